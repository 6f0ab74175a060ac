"""HTML and markdown for the chat: answers with clickable [n] markers and source cards, untrusted text made inert."""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from articleqa.text import MARKER

if TYPE_CHECKING:
    from articleqa.models import Answer, Passage

# Characters markdown would treat as syntax; as numeric entities they display literally and never form links,
# emphasis, code, LaTeX or template expressions.
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~$:"}

def escape_text(text: str) -> str:
    """Make untrusted text inert inside the chat's markdown: HTML-escaped and markdown syntax neutralised.

    Args:
        text: any text from an article, a question or an answer.
    Returns:
        Markdown that displays `text` literally.
    """
    return "".join(_ENTITIES.get(c, c) for c in text)


def answer_markdown(text: str, direct: str = "") -> str:
    """Answer text for the chat: escaped, with each marker [n] turned into a link to source card n.

    Args:
        text: answer text with [n] markers.
        direct: the checked short answer the text leads with; shown in bold on its own line.
    Returns:
        Markdown/HTML for a chat message.
    """
    if direct and text.startswith(direct + " ["):
        first, sep, rest = text.partition("\n")
        return f"**{answer_markdown(first)}**{sep}{answer_markdown(rest)}" if sep else f"**{answer_markdown(first)}**"
    out, last = [], 0
    for m in MARKER.finditer(text):
        out.append(escape_text(text[last : m.start()]))
        n = int(m.group(1))
        out.append(f'<a class="aqa-cite" href="#src-{n}" title="Show source {n}">[{n}]</a>')
        last = m.end()
    out.append(escape_text(text[last:]))
    return "".join(out)


def safe_url(url: str) -> str:
    """The URL if it is a plain http(s) link, else "" (a `javascript:` or `data:` URL never becomes a link)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def _attr(text: str) -> str:
    # Escaped for HTML plus `$`/braces, so no client-side template syntax survives in gr.HTML values.
    return html.escape(text, quote=True).replace("$", "&#36;").replace("{", "&#123;").replace("}", "&#125;")


def _card(number: int, title: str, url: str, source: str, date: str, body_html: str, near: bool = False) -> str:
    link = safe_url(url)
    title_html = _attr(title or "(untitled article)")
    if link:
        title_html = f'<a href="{_attr(link)}" target="_blank" rel="noopener noreferrer">{title_html}</a>'
    meta = " · ".join(_attr(x) for x in (source, _nice_date(date)) if x) or "unknown source"
    cls = "aqa-passage aqa-near" if near else "aqa-passage"
    return (
        f'<div class="aqa-card" id="src-{number}" data-number="{number}">'
        f'<div class="aqa-card-head"><span class="aqa-num">{number}</span>'
        f'<span class="aqa-title">{title_html}</span></div>'
        f'<div class="aqa-meta">{meta}</div><p class="{cls}">{body_html}</p></div>'
    )


def _nice_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value[:10]).strftime("%-d %B %Y")
    except (ValueError, TypeError):
        return value or ""


def source_cards_html(answer: Answer) -> str:
    """Source cards for an answer, numbered like its markers, each passage with the cited sentence in <mark>.

    Args:
        answer: the final answer; when refused, its nearest passages are shown instead.
    Returns:
        HTML for the sources panel; every article-derived string is escaped.
    """
    if answer.refused:
        if not answer.passages:
            return '<div class="aqa-empty">No passage came close to the question.</div>'
        intro = '<div class="aqa-empty">Not answered. The nearest passages were:</div>'
        return intro + passage_cards_html(answer.passages, near=True, header=False)
    if not answer.citations:
        return '<div class="aqa-empty">This answer has no checked citations.</div>'
    groups: dict[str, list[str]] = {}  # article -> its cards, articles in the order of their first citation
    heads: dict[str, str] = {}
    for c in sorted(answer.citations, key=lambda c: c.number):
        a, b = c.start - c.passage_start, c.end - c.passage_start
        text = c.passage_text
        if c.record_field:  # the cited thing is a field of the article's record: show the record, field marked
            label = {"author": "Byline", "source": "Published by", "date": "Published on"}.get(c.record_field, "")
            value = _nice_date(c.quote) if c.record_field == "date" else c.quote
            body = (f'<span class="aqa-record">{_attr(label)}: <mark>{_attr(value)}</mark></span><br>'
                    f"{_attr(text)}")
        elif c.passage_text and 0 <= a < b <= len(text) and text[a:b] == c.quote:
            body = f"{_attr(text[:a])}<mark>{_attr(text[a:b])}</mark>{_attr(text[b:])}"
        else:  # offsets disagree with the passage: show the quote alone rather than a wrong highlight
            body = f"<mark>{_attr(c.quote)}</mark>"
        key = c.article_id or f"#{c.number}"
        heads.setdefault(key, _article_head(c.source, c.date))
        groups.setdefault(key, []).append(_card(c.number, c.title, c.url, c.source, c.date, body))
    return _article_groups(groups, heads)


def _article_head(source: str, date: str) -> str:
    publisher = f'<span class="aqa-publisher">{_attr(source or "unknown source")}</span>'
    when = f' · <time datetime="{_attr(date[:10])}">{_attr(_nice_date(date))}</time>' if date else ""
    return f'<div class="aqa-article-head">{publisher}{when}</div>'


def _article_groups(groups: dict[str, list[str]], heads: dict[str, str]) -> str:
    # One column per cited article, publisher and date on top, so two reports compared by an answer stand side by
    # side (the panel stacks them again when it is too narrow for two columns).
    side = " aqa-side" if len(groups) > 1 else ""
    cols = "".join(f'<section class="aqa-article" data-article="{_attr(k)}">{heads[k]}{"".join(cards)}</section>'
                   for k, cards in groups.items())
    return f'<div class="aqa-groups{side}">{cols}</div>'


def passage_cards_html(passages: list[Passage], near: bool = False, header: bool = True) -> str:
    """Cards for retrieved passages (while an answer is being written, or the nearest ones of a refusal)."""
    if not passages:
        return '<div class="aqa-empty">No passages found.</div>'
    intro = '<div class="aqa-empty">Reading these passages…</div>' if header else ""
    return intro + "".join(
        _card(i, p.title, p.url, p.source, p.date, _attr(p.text), near=near) for i, p in enumerate(passages, 1)
    )


def details_markdown(answer: Answer) -> str:
    """The Details accordion: rewritten query, mode, notices and per-stage timings."""
    lines = [f"**Search query:** {escape_text(answer.rewritten_query or answer.question)}", f"**Mode:** {answer.mode}"]
    if answer.short_answer:
        lines.append(f"**Short answer:** {escape_text(answer.short_answer)}")
    for n in answer.notices:
        lines.append(f"**Note:** {escape_text(n)}")
    if answer.plan:  # a question about several reports: what was recognised and searched per report
        plan = answer.plan
        lines.append(f"**Plan:** {escape_text(plan.get('answer_kind', ''))} over "
                     f"{len(plan.get('steps', []))} reports"
                     + (f"; not stored: {escape_text(', '.join(plan['unknown_sources']))}"
                        if plan.get("unknown_sources") else ""))
        for step in plan.get("steps", []):
            lines.append(f"- {escape_text(step.get('label', ''))}: {escape_text(step.get('query', '')[:160])}")
    if answer.unsupported:
        lines.append(f"**Dropped (unsupported) sentences:** {len(answer.unsupported)}")
    if answer.timings:
        rows = "\n".join(f"| {k} | {v * 1000:.0f} ms |" for k, v in answer.timings.items())
        lines.append(f"\n| stage | time |\n|---|---|\n{rows}")
    return "\n\n".join(lines)

