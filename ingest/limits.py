"""HTML checked before parsing: size and element count limited, nesting flattened and attribute lists cut, in one
linear pass."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Elements that never have content, and those whose content is not markup (skipped whole).
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_RAW = ("script", "style", "textarea", "title", "xmp", "noscript")
# Elements a new sibling closes implicitly (`<p>a<p>b`), so they do not count as nesting.
_IMPLIED_END = frozenset("p li dt dd tr td th option".split())
_NAME = re.compile(r"/?\s*([A-Za-z][^\s/>]{0,63})")
_ATTR = re.compile(r"""[^\s"'=/<>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_MATCH_WINDOW = 64  # how far up the open-element stack an end tag looks for its start tag


class HtmlTooLarge(ValueError):
    """The page is larger than max_html_mb or has more than max_html_elements; the message names the limit."""


@dataclass
class HtmlLimits:
    """The limits an HTML page is held to before it reaches the parser."""

    max_mb: float = 10.0
    max_depth: int = 256
    max_attributes: int = 64
    max_elements: int = 20_000


@dataclass
class CheckedHtml:
    """A page made safe to parse, and how many elements it has."""

    html: str
    elements: int


def bound_html(html: str, limits: HtmlLimits) -> str:
    """The page, made safe to parse (see `check_html`)."""
    return check_html(html, limits).html


def check_html(html: str, limits: HtmlLimits) -> CheckedHtml:
    """The page, made safe to parse, with its element count.

    libxml2 gives up on documents nested deeper than 256 levels (a page of 10,000 nested <div>s parses to nothing)
    and spends quadratic time on an element with 100,000 attributes; the extractor's time grows faster than the
    number of elements. Pages within the limits are returned unchanged; otherwise wrapper tags deeper than
    `max_depth` are dropped (their text stays) and attributes past `max_attributes` are removed.

    Args:
        html: the page.
        limits: size, element, depth and attribute limits.
    Returns:
        The page (rewritten only when a depth or attribute limit was exceeded) and its number of elements.
    Raises:
        HtmlTooLarge: when the page is larger than `limits.max_mb` or has more than `limits.max_elements` elements
            (counting stops there, so a page of millions of tags is refused in milliseconds).
    """
    size_mb = len(html) / (1024 * 1024)
    if limits.max_mb > 0 and size_mb > limits.max_mb:
        raise HtmlTooLarge(f"HTML page too large ({size_mb:.1f} MiB > max_html_mb {limits.max_mb:g})")
    exceeds, elements = _scan(html, limits)
    return CheckedHtml("".join(_rewrite(html, limits)) if exceeds else html, elements)


def _tags(html: str):
    """(start, end, tag text) of every tag, skipping comments and raw-text element content; linear."""
    pos, n = 0, len(html)
    while pos < n:
        i = html.find("<", pos)
        if i < 0:
            return
        if html.startswith("<!--", i):
            j = html.find("-->", i + 4)
            pos = n if j < 0 else j + 3
            continue
        j = html.find(">", i + 1)
        if j < 0:
            return
        tag = html[i + 1 : j]
        yield i, j + 1, tag
        pos = j + 1
        m = _NAME.match(tag)
        if m and not tag.startswith("/") and m.group(1).lower() in _RAW:
            # Skip to the matching end tag: "<" inside a script is not markup. Without one the rest of the page is
            # the element's text (as in a browser); searching again from every later "<script>" would be quadratic.
            k = _find_ci(html, m.group(1), pos)
            pos = k if k >= 0 else n


def _find_ci(html: str, name: str, pos: int) -> int:
    # Case-insensitive search for "</name" without lower-casing the whole page per raw element.
    pattern = re.compile(r"</" + re.escape(name), re.IGNORECASE)
    m = pattern.search(html, pos)
    return m.start() if m else -1


def _walk(html: str):
    """(start, end, tag text, name, depth, kind) per tag, kind in "start", "end", "void", "other"."""
    stack: list[str] = []
    for start, end, tag in _tags(html):
        m = _NAME.match(tag)
        if not m or tag[:1] in "!?":
            yield start, end, tag, "", len(stack), "other"
            continue
        name = m.group(1).lower()
        if tag.startswith("/"):
            for k in range(len(stack) - 1, max(-1, len(stack) - 1 - _MATCH_WINDOW), -1):
                if stack[k] == name:
                    del stack[k:]
                    break
            yield start, end, tag, name, len(stack), "end"
        elif name in _VOID or tag.rstrip().endswith("/"):
            yield start, end, tag, name, len(stack), "void"
        else:
            if name in _IMPLIED_END and stack and stack[-1] == name:
                stack.pop()
            stack.append(name)
            yield start, end, tag, name, len(stack), "start"


def _scan(html: str, limits: HtmlLimits) -> tuple[bool, int]:
    """(whether a depth or attribute limit is exceeded, number of elements)."""
    exceeds, elements = False, 0
    for _s, _e, tag, _name, depth, kind in _walk(html):
        if kind not in ("start", "void"):
            continue
        elements += 1
        if elements > limits.max_elements > 0:
            raise HtmlTooLarge(f"HTML page has too many elements (over max_html_elements {limits.max_elements:,})")
        if exceeds:
            continue
        # Each attribute takes at least two characters: shorter tags cannot be over the limit.
        many = len(tag) > 2 * limits.max_attributes and _count_attrs(tag) > limits.max_attributes
        exceeds = (kind == "start" and depth > limits.max_depth) or many
    return exceeds, elements


def _count_attrs(tag: str) -> int:
    return sum(1 for _ in _ATTR.finditer(tag, len(_NAME.match(tag).group(0)))) if _NAME.match(tag) else 0


def _rewrite(html: str, limits: HtmlLimits):
    pos = 0
    dropped: list[int] = []  # depths of dropped start tags, so their end tags are dropped too
    for start, end, tag, _name, depth, kind in _walk(html):
        yield html[pos:start]
        pos = end
        if kind == "start" and depth > limits.max_depth:
            dropped.append(depth)
            continue
        if kind == "end" and dropped and dropped[-1] > depth:
            while dropped and dropped[-1] > depth:  # an end tag may close several dropped wrappers at once
                dropped.pop()
            continue
        if kind in ("start", "void"):
            head = _NAME.match(tag)
            attrs = [a.group(0) for a, _ in zip(_ATTR.finditer(tag, head.end()), range(limits.max_attributes),
                                                strict=False)]
            closing = "/" if kind == "void" and tag.rstrip().endswith("/") else ""
            yield "<" + head.group(1) + "".join(" " + a for a in attrs) + closing + ">"
            continue
        yield html[start:end]
    yield html[pos:]
