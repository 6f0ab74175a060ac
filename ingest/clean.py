"""Turn a RawDocument into an Article: main text without page furniture, plus title, date, source, author, dateline."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from articleqa.models import Article, RawDocument
from articleqa.safe_text import clean_field, clean_text, scrub_surrogates, shorten, strip_credentials
from articleqa.settings import Settings
from articleqa.text import normalize_space
from ingest.limits import HtmlLimits, HtmlTooLarge, check_html
from ingest.load import normalize_date

MIN_WORDS = 20


class CleanError(Exception):
    """No article text remains after cleaning; the message says why."""


# --------------------------------------------------------------------------------------------------------------
# line classes. Rules are written for scraped news pages in general; the seed sample only illustrates them.
# --------------------------------------------------------------------------------------------------------------

_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_WORD = re.compile(r"[\w’']+")
# Photo credits: where a caption says who took the picture.
_CREDIT = re.compile(
    r"via REUTERS|\bREUTERS/|\(Photo by|\bAP Photo\b|\bAP/|/AP\b|/AFP\b|\bAFP via Getty|Getty Images|/Getty\b"
    r"|\bEPA-EFE\b|Shutterstock|\bImage:|\bPhoto:|\bPhotograph:|\bPicture:|\bPhoto credit|\bCredit:|\(Photo:"
    r"|/Bloomberg\b|\bPool Photo\b|/Xinhua\b|/Kyodo\b|/Yonhap\b"
)
# Whole lines that are widgets, navigation or calls to action (compared lower-cased, trailing punctuation removed).
_WIDGET_LINES = re.compile(
    r"(\d+|no) comments?|comments?|leave a comment|log ?in to (leave a )?comment|add a comment|show comments"
    r"|(newsletter )?sign ?up( for (our|the) newsletter)?|newsletter signup( register ?/ ?log ?in)?"
    r"|register( today| now)?|register ?/ ?log ?in|log ?in ?/ ?register|log ?in|log ?out|sign ?in|sign ?out"
    r"|forgot (your )?password|user registration|facebook (connect|users)|log ?in with .{0,40} account"
    r"|create (an|your|a free) account|already (a subscriber|have an account)"
    r"|read more|read next|read the full story|continue reading|see more|show more|load more|more stories"
    r"|related( articles| stories| news| content| coverage| topics)?|recommended( for you)?|you (may|might) also like"
    r"|most (read|popular|viewed|shared)|trending( now| stories)?|top stories|editor'?s picks|don'?t miss"
    r"|advertisement|advertising|sponsored( content)?|promoted|paid content|ad feedback|story continues below"
    r"|share|share this( article| story| page)?|share on (facebook|twitter|x|linkedin|whatsapp|email)|tweet|email|print"
    r"|copy link|link copied|click here|subscribe( now| today| here)?|skip to (main )?content|skip navigation"
    r"|back to top|menu|home|search|close|open menu|main menu|toggle navigation|next article|previous article"
    r"|accept( all)?( cookies)?|reject all|manage (cookies|preferences|settings)|cookie (policy|settings|preferences)"
    r"|privacy policy|terms of (use|service)|contact us|about us|all rights reserved|listen to (this )?article"
    r"|watch|video|photos?|gallery|image \d+ of \d+|\d+ of \d+|play video|updated|follow us"
    r"|world|news|business|politics|sports?|tech(nology)?|science|health|opinion|entertainment|lifestyle"
)
# Sentence-like furniture, matched anywhere in a line of at most ~50 words.
_WIDGET_TEXT = re.compile(
    r"(?i)\bsign up\b.{0,120}\b(newsletter|inbox|alerts)\b|\b(newsletter|inbox)\b.{0,80}\bsign up\b"
    r"|\b(we|this (web)?site) uses? cookies\b|\bby (continuing|using this site).{0,60}\bcookies\b"
    r"|\bsupport (strong |independent |quality )?(local )?journalism\b.{0,60}\bsubscri"
    r"|\benjoying .{1,40}\? sign up\b|\bto get it in your inbox\b|\bsubscribe to our newsletter\b"
    r"|\byou have reached your (free )?article limit\b|\bthis (content|video) is not available\b"
)
# "Follow X on Twitter: @x" and "Reach the reporter at x@y.com" contact tails.
_CONTACT = re.compile(r"(?i)^(follow|reach|contact|email)\b.{0,160}(@\w|\btwitter\b|\binstagram\b|\bfacebook\b)")
# Related-link teasers: "Read more: headline", "ALL CAPS KICKER:headline" glued by the scraper, "► teaser".
_TEASER = re.compile(
    r"^(►|▶|»|(?i:read more|related|see also|also read|more|watch|listen)\s*:)|^[A-Z][A-Z0-9 '’&,.-]{3,}:(?=\S)"
)
_COPYRIGHT = re.compile(r"(?i)^(©|\(c\)\s*\d{4}|copyright\b)|©\s*\d{4}|\ball rights reserved\b")
_BYLINE = re.compile(r"^(?:by|written by|words by|author:)\s+(?P<name>[A-Z][^\n]{1,80})$", re.IGNORECASE)
_AGENCY = r"CNN(?: Business| Digital)?|Reuters|AP|AFP|Associated Press|Bloomberg|UPI|dpa|DPA|Xinhua|Kyodo|Yonhap|BBC"
# A standalone dateline line: "BEIJING", "NEW YORK, Sept 4", "New York CNN —", "CNN —".
_DATELINE_CAPS = re.compile(r"^(?P<place>[A-Z][A-Z.'’-]+(?:[ ,]+[A-Z][A-Z.'’-]+){0,3})[ ,]*(?:[—–-]+)?$")
_DATELINE_AGENCY = re.compile(
    rf"^(?:(?P<place>[A-Z][\w.'’-]*(?:[ ,]+[A-Z][\w.'’-]*){{0,3}})\s+)?\(?(?:{_AGENCY})\)?\s*[—–-]+$"
)
# A dateline that opens the first paragraph: "BEIJING (Reuters) - ", "NEW YORK — ", "Rome, Georgia (CNN) ", "(CNN) ".
_DATELINE_PREFIX = re.compile(
    r"^(?:(?P<caps>[A-Z][A-Z.'’-]+(?:[ ,]+[A-Z][A-Z.'’-]+){0,3})\s*(?:\([A-Z][\w.]*(?: [A-Z][\w.]*){0,2}\)\s*)?"
    r"[—–-]{1,2}\s+"
    rf"|(?P<place>[A-Z][\w.'’-]+(?:[ ,]+[A-Z][\w.'’-]+){{0,3}})?\s*\((?:{_AGENCY})\)\s*(?:[—–-]{{1,2}}\s*)?)"
    r"(?=[A-Z0-9\"“‘'(])"
)
_DATE_TEXT = re.compile(
    r"(?i)^(?:(?:date|published|posted|updated|last updated|first published)(?: on)?\s*:?\s*)?"
    r"(?P<date>\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d\d(?::\d\d)?(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)?"
    r"|(?:[a-z]+,?\s+)?[a-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|(?:[a-z]+,?\s+)?\d{1,2}(?:st|nd|rd|th)?\s+[a-z]{3,9}\.?,?\s+\d{4})"
    r"(?P<rest>.*)$"
)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _words(line: str) -> int:
    return len(_WORD.findall(line))


def _ends_sentence(line: str) -> bool:
    return bool(_END.search(line))


def _is_story(line: str) -> bool:
    """A paragraph of running text: a complete sentence of some length, or a long run of words."""
    n = _words(line)
    return (n >= 8 and _ends_sentence(line)) or n >= 30


def _is_linklike(line: str) -> bool:
    """A short line without sentence punctuation: a headline, label or link in a list."""
    return _words(line) <= 15 and not _ends_sentence(line)


def _is_widget(line: str) -> bool:
    key = re.sub(r"[\s.:!?…|·•>»›→-]+$", "", line.strip().lower())
    key = re.sub(r"^[\s|·•>»›←-]+", "", key)
    if _WIDGET_LINES.fullmatch(key):
        return True
    short = _words(line) <= 50
    return short and bool(_WIDGET_TEXT.search(line) or _CONTACT.search(line) or _TEASER.search(line))


def _is_credit(line: str) -> bool:
    return bool(_CREDIT.search(line)) and _words(line) <= 80


# --------------------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Guess:
    title: str = ""
    date: str = ""
    source: str = ""
    author: str = ""
    dateline: str = ""
    url: str = ""


def clean(raw: RawDocument, settings: Settings | None = None) -> Article:
    """Extract the article from a raw document.

    Args:
        raw: a loaded document; its title/date/source/author/url (from a JSON record, feed entry or HTTP) win over
            what is guessed from the text.
        settings: the HTML and article-size limits (defaults when None).
    Returns:
        An Article with one paragraph per line in `text`, metadata filled in and `id` set (see `article_id`).
    Raises:
        CleanError: when no article text remains (HTML without a main text, or fewer than MIN_WORDS words).
    """
    limits = (settings or Settings()).limits
    raw = _sanitised(raw)
    if raw.is_html:
        try:
            page = check_html(raw.text, HtmlLimits(limits.max_html_mb, limits.max_html_depth,
                                                   limits.max_html_attributes, limits.max_html_elements))
        except HtmlTooLarge as exc:
            raise CleanError(str(exc)) from None
        lines, guess = _from_html(RawDocument(**{**raw.__dict__, "text": page.html}),
                                  fallbacks=page.elements <= limits.html_fallback_elements)
        lines, more = _clean_lines(lines, page=False)
    else:
        text = raw.text
        if raw.origin.lower().endswith((".md", ".markdown")):
            text = _strip_markdown(text)
        # Records (JSON corpora) are already article text: use the conservative rules that never drop short content.
        lines, more = _clean_lines(_paragraphs(text), page=not _is_record(raw))
        guess = _Guess()
    body = normalize_space("\n".join(lines))
    if len(body) > limits.max_article_chars:
        raise CleanError(f"article text too long ({len(body):,} characters > max_article_chars "
                         f"{limits.max_article_chars:,})")
    n = _words(body)
    if n < MIN_WORDS:
        raise CleanError(f"no article text left after cleaning ({n} words)")
    url = _stored_url(raw.url or guess.url or "", limits.max_url_chars)

    def field(value: str) -> str:
        # A page's <title>, a feed entry or a record can hold a megabyte; every passage carries these fields.
        return shorten(clean_field(value), limits.max_field_chars)

    article = Article(
        id="",
        text=body,
        title=field(raw.title or guess.title or more.title),
        url=url,
        date=field(raw.date or guess.date or more.date),
        source=field(raw.source or guess.source or more.source or _host(url)),
        author=field(raw.author or guess.author or more.author),
        dateline=field(more.dateline or guess.dateline),
        origin=scrub_surrogates(strip_credentials(raw.origin)),
    )
    article.id = article_id(raw, article)
    return article


def _stored_url(url: str, max_chars: int) -> str:
    """The article's URL as stored and shown: http(s) only (a javascript:, data: or file: "URL" from a record or a
    canonical link is not the article's address), without credentials, and not longer than `max_chars`."""
    url = strip_credentials(url.strip())
    if len(url) > max_chars or not re.match(r"(?i)https?://[^/\s]", url):
        return ""
    return url


def _sanitised(raw: RawDocument) -> RawDocument:
    """The document with lone surrogates and control characters gone from its text and every field, and no
    credentials in its URL: nothing stored or shown can carry them."""
    fields = {k: clean_field(v) for k in ("title", "date", "source", "author", "doc_id")
              if isinstance(v := getattr(raw, k), str)}
    url = strip_credentials(clean_field(raw.url)) if raw.url else raw.url
    return RawDocument(**{**raw.__dict__, **fields, "url": url, "text": clean_text(raw.text)})


def article_id(raw: RawDocument, article: Article) -> str:
    """The stable id of an article.

    Args:
        raw: the loaded document (its doc_id, url and origin are used).
        article: the cleaned article (its url is used when the raw document had none, e.g. a canonical URL in HTML).
    Returns:
        `raw.doc_id` verbatim when given; else "url-" + sha1(normalised url)[:16]; else "file-" + sha1(absolute
        origin path)[:16] (for a JSON record the origin keeps its ":LINE"/"[i]" suffix, so records stay distinct).
    """
    if raw.doc_id:
        return raw.doc_id
    url = strip_credentials(raw.url or article.url)
    if url:
        return "url-" + hashlib.sha1(normalize_url(url).encode()).hexdigest()[:16]
    # fsencode: a file name that is not UTF-8 arrives with surrogate escapes; it still names one file, one id.
    return "file-" + hashlib.sha1(os.fsencode(os.path.abspath(raw.origin))).hexdigest()[:16]


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment, utm_* parameters and a trailing slash."""
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith("utm_")])
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


# --------------------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------------------


def _from_html(raw: RawDocument, fallbacks: bool = True) -> tuple[list[str], _Guess]:
    """Main text lines and metadata of an HTML page; `fallbacks` lets trafilatura also try readability and jusText
    (off for large pages: jusText's time grows with the square of the number of short paragraphs, 5,000 took 8 s)."""
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(raw.text, url=raw.url, with_metadata=True, include_comments=False,
                                          include_tables=True, fast=not fallbacks)
    except Exception as exc:  # trafilatura/lxml raise assorted errors on malformed markup
        raise CleanError(f"HTML could not be parsed ({exc})") from exc
    if doc is None or not (doc.text or "").strip():
        raise CleanError("no article text found in HTML")
    guess = _Guess(
        title=(doc.title or "").strip(),
        date=normalize_date(doc.date) or "" if doc.date else "",
        source=(doc.sitename or "").strip(),
        author=(doc.author or "").strip(),
        url=(doc.url or "").strip() if (doc.url or "").startswith("http") else "",
    )
    lines = normalize_space(doc.text).split("\n")
    # trafilatura keeps the <h1> as the first line; the title is stored separately.
    if lines and guess.title and _same(lines[0], guess.title):
        lines = lines[1:]
    return lines, guess


def _same(a: str, b: str) -> bool:
    return " ".join(_WORD.findall(a.lower())) == " ".join(_WORD.findall(b.lower()))


# --------------------------------------------------------------------------------------------------------------
# plain text
# --------------------------------------------------------------------------------------------------------------


def _is_record(raw: RawDocument) -> bool:
    return bool(raw.doc_id) or bool(re.search(r"\.jsonl?(:\d+|\[\d+\])?$", raw.origin, re.IGNORECASE))


def _strip_markdown(text: str) -> str:
    """Markdown to plain paragraphs: images dropped, links to their text, emphasis and heading marks removed."""
    text = re.sub(r"(?m)^[ \t]*!\[[^\]]*\]\([^)]*\)[ \t]*$", "", text)
    text = _MD_LINK.sub(r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?m)^[ \t]{0,3}#{2,6}[ \t]+", "", text)  # a leading "# " is kept: it marks the title
    text = re.sub(r"(?m)^[ \t]{0,3}(-{3,}|\*{3,}|_{3,})[ \t]*$", "", text)
    return text


def _paragraphs(text: str) -> list[str]:
    """One paragraph per line: hard-wrapped lines (the next line continues in lower case) are joined."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n[ \t]*\n", text)
    out: list[str] = []
    for block in blocks:
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        if _hard_wrapped(lines):
            out.append(" ".join(lines))
            continue
        for ln in lines:
            if out and out[-1] and ln[:1].islower() and not _ends_sentence(out[-1]) and len(out[-1]) > 40:
                out[-1] += " " + ln
            else:
                out.append(ln)
        out.append("")  # block boundary: never join across it
    return [re.sub(r"[ \t\u00a0]+", " ", p).strip() for p in out if p.strip()]


def _hard_wrapped(lines: list[str]) -> bool:
    """A block of prose wrapped at a fixed width (e-mail, Markdown source): all but the last line are long."""
    if len(lines) < 3:
        return False
    widths = [len(ln) for ln in lines[:-1]]
    return min(widths) >= 50 and max(widths) - min(widths) <= 25 and max(widths) <= 100


def _clean_lines(lines: list[str], page: bool) -> tuple[list[str], _Guess]:
    """Drop furniture and read header metadata.

    Args:
        lines: paragraphs, one per line.
        page: True for a scraped page (aggressive: everything before the story and the link lists after it go);
            False for text that is already the article (records, trafilatura output): only furniture lines go.
    """
    guess = _Guess()
    lines = _cut_at_copyright(lines)
    lines = _drop_furniture(lines)
    start = next((i for i, ln in enumerate(lines) if _is_story(ln)), len(lines))
    if page:
        _read_header(lines[:start], guess)
        lines = lines[start:]
        lines = _cut_tail(lines)
    else:
        lines = _strip_record_header(lines, start, guess)
    if lines:
        lines[0] = _strip_dateline_prefix(lines[0], guess)
    return lines, guess


def _cut_at_copyright(lines: list[str]) -> list[str]:
    """The story ends at a copyright line; only a copyright line in the first 40% of the words is dropped alone."""
    total = sum(_words(ln) for ln in lines) or 1
    seen = 0
    for i, ln in enumerate(lines):
        if _COPYRIGHT.search(ln) and _words(ln) <= 25:
            if seen >= 0.4 * total:
                return lines[:i]
            lines = lines[:i] + lines[i + 1 :]
            return _cut_at_copyright(lines)
        seen += _words(ln)
    return lines


def _drop_furniture(lines: list[str]) -> list[str]:
    """Remove widgets, cookie/newsletter notices, contact tails, teasers, and photo captions with their credits."""
    out: list[str] = []
    for ln in lines:
        if _is_credit(ln):
            # The short headline-like line just before a credit is the caption it belongs to.
            if out and _is_linklike(out[-1]) and not _BYLINE.match(out[-1]) and _words(out[-1]) >= 3:
                out.pop()
            continue
        if _is_widget(ln):
            continue
        out.append(ln)
    return out


def _cut_tail(lines: list[str]) -> list[str]:
    """Cut where link lists begin: the first link-like line after which hardly any running text follows."""
    n = len(lines)
    for i in range(1, n):
        rest = lines[i:]
        if len(rest) >= 3 and _is_linklike(lines[i]) and 4 * sum(_is_story(r) for r in rest) < len(rest):
            return lines[:i]
    while lines and (_is_linklike(lines[-1]) and len(lines) > 1):
        lines = lines[:-1]
    return lines


def _read_header(header: list[str], guess: _Guess) -> None:
    """Title, date, source, author and dateline from the lines above the story; the lines themselves are dropped."""
    byline_at = None
    candidates: list[tuple[int, str]] = []
    for i, ln in enumerate(header):
        if ln.startswith("# "):
            guess.title = ln[2:].strip()
            continue
        if _read_date_line(ln, guess):
            continue
        m = _BYLINE.match(ln)
        if m and _words(ln) <= 12:
            guess.author = guess.author or _author(m.group("name"))
            byline_at = i if byline_at is None else byline_at
            continue
        if (m := _DATELINE_AGENCY.match(ln)) or ((m := _DATELINE_CAPS.match(ln)) and _words(ln) <= 4):
            guess.dateline = _tidy_place(m.group("place") or "")
            continue
        if 4 <= _words(ln) <= 25 and not ln.endswith(".") and not _is_widget(ln):
            candidates.append((i, ln))
    if not guess.title and candidates:
        before = [c for c in candidates if byline_at is None or c[0] < byline_at]
        # Nearest the byline when there is one (nav and teasers come first); otherwise the first headline-like line.
        guess.title = (before[-1] if byline_at is not None and before else candidates[0])[1]


def _strip_record_header(lines: list[str], start: int, guess: _Guess) -> list[str]:
    """In article text, only the first few lines before the story are examined: datelines, bylines, date lines and
    stray labels of at most four words ("Staff reports", "Associated Press") at the very top are removed."""
    keep: list[str] = []
    for i, ln in enumerate(lines):
        # Only the unbroken run of header-like lines at the very top: a short line after kept text is a heading.
        if i < min(start, 4) and not keep:
            m = _BYLINE.match(ln)
            if m and _words(ln) <= 12:
                guess.author = guess.author or _author(m.group("name"))
                continue
            if (d := _DATELINE_AGENCY.match(ln)) or ((d := _DATELINE_CAPS.match(ln)) and _words(ln) <= 4):
                guess.dateline = _tidy_place(d.group("place") or "")
                continue
            if _read_date_line(ln, guess):
                continue
            if _words(ln) <= 4 and not _ends_sentence(ln) and not ln.endswith((":", "?")):
                continue
        keep.append(ln)
    return keep


def _read_date_line(line: str, guess: _Guess) -> bool:
    """A line that is a date, optionally followed by the publication name (" date 2025-09-05  Japan Today")."""
    m = _DATE_TEXT.match(line.strip())
    if not m:
        return False
    date = normalize_date(m.group("date"))
    rest = m.group("rest").strip(" |·•,–—-\t")
    if not date or (rest and (_words(rest) > 6 or _ends_sentence(rest) or rest[:1].isdigit())):
        return False
    guess.date = guess.date or date
    if rest and not guess.source:
        guess.source = rest
    return True


def _author(name: str) -> str:
    """The name part of a byline ("Liz Lee | Reuters" -> "Liz Lee", "Jane Doe, Reuters" -> "Jane Doe")."""
    name = re.split(r"\s*[|•·–—]\s*|\s+-\s+|,\s*(?=(?:" + _AGENCY + r"|The |Staff|Special|Senior|Chief)\b)", name)[0]
    return name.strip(" ,.")


def _tidy_place(place: str) -> str:
    return place.strip(" ,.-–—")


def _strip_dateline_prefix(line: str, guess: _Guess) -> str:
    m = _DATELINE_PREFIX.match(line)
    if not m:
        return line
    place = m.group("caps") or m.group("place") or ""
    # "THE" or "A" opening a sentence in capitals is not a place.
    if m.group("caps") and _words(place) == 1 and len(place) <= 2:
        return line
    if place and not guess.dateline:
        guess.dateline = _tidy_place(place)
    return line[m.end():]


def _host(url: str) -> str:
    host = urlsplit(url).hostname or "" if url else ""
    return host.removeprefix("www.")
