"""Questions about an article's record (who wrote it, who published it, when), answered from its metadata."""

from __future__ import annotations

import re
from dataclasses import dataclass

from articleqa.models import Citation, Passage
from qa.cite import format_date, passage_citation

_ARTICLE = r"(?:article|story|report|piece|coverage|column|dispatch|news\s+item)"
# Each pattern names the record field it asks for. They require a word for "article", so "Who wrote the novel?"
# or "When was the treaty published?" stay questions about the text.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("author", re.compile(rf"\bwho\s+(?:wrote|authored|reported|penned|filed|is\s+behind)\b[^?]*\b{_ARTICLE}", re.I)),
    ("author", re.compile(rf"\b(?:author|writer|reporter|byline)\s+of\b[^?]*\b{_ARTICLE}", re.I)),
    ("author", re.compile(rf"\b{_ARTICLE}\b[^?]*\b(?:written|authored|reported)\s+by\s+(?:whom|who)\b", re.I)),
    ("author", re.compile(r"\bwhose\s+byline\b|\bbyline\b[^?]*\?", re.I)),
    ("source", re.compile(
        rf"\b(?:which|what)\s+(?:newspaper|paper|outlet|publication|site|website|news\s+(?:site|outlet|agency|"
        rf"organi[sz]ation))\s+(?:published|ran|carried|printed|posted)\b[^?]*\b{_ARTICLE}", re.I)),
    ("source", re.compile(rf"\bwho\s+published\b[^?]*\b{_ARTICLE}", re.I)),
    ("source", re.compile(rf"\bwhere\s+was\b[^?]*\b{_ARTICLE}\b[^?]*\bpublished\b", re.I)),
    ("date", re.compile(rf"\bwhen\s+was\b[^?]*\b{_ARTICLE}\b[^?]*\b(?:published|written|posted|filed)\b", re.I)),
    ("date", re.compile(rf"\b(?:what|which)\s+(?:date|day)\b[^?]*\b{_ARTICLE}\b[^?]*\b(?:published|posted)\b", re.I)),
]
_NAMES = {"author": "byline", "source": "publisher", "date": "publication date"}


@dataclass
class RecordAnswer:
    """An answer taken from one article's record, with the citation that points at that record's field."""

    text: str  # with the [1] marker
    short_answer: str
    citation: Citation | None  # None when the record lacks the field (then `text` is the refusal reason)


class MetadataAnswerer:
    """Answers "who wrote / who published / when was the article about X published" from the best article's record.

    The value is copied from the stored record, never generated; `verify` checks a record citation against the
    passage metadata, as the evaluation checks quotes against passage text.
    """

    def run(self, field: str, passages: list[Passage]) -> RecordAnswer:
        """Answer a record question from the top passage's article.

        Args:
            field: what the question asks for ("author", "source" or "date"; see `record_field`).
            passages: retrieved passages, best first (at least one); the first one's article is the one asked about.
        Returns:
            The RecordAnswer (with no citation when the record lacks the field).
        """
        p = passages[0]
        value = {"author": p.author, "source": p.source, "date": p.date}[field].strip()
        title = p.title or "The article"
        if not value:
            return RecordAnswer(f"“{title}” has no {_NAMES[field]} in its record.", "", None)
        shown = format_date(value) if field == "date" else value
        sentence = {
            "author": f"“{title}” was written by {shown}",
            "source": f"“{title}” was published by {shown}",
            "date": f"“{title}” was published on {shown}",
        }[field]
        citation = passage_citation(1, p, value, 0, 0, 1.0, record_field=field)
        return RecordAnswer(f"{sentence} [1].", shown, citation)


def record_field(question: str) -> str:
    """ "author", "source" or "date" when the question asks for that field of an article's record, else ""."""
    for field, pattern in _PATTERNS:
        if pattern.search(question):
            return field
    return ""


_TOPIC = re.compile(
    r"\b(?:about|on|covering|regarding|concerning)\s+(?P<topic>[^?]+?)"
    r"(?:\s+(?:was|is)?\s*(?:published|written|posted|filed|reported)\b[^?]*)?\s*(?:\?|$)",
    re.I,
)


def record_topic(question: str) -> str:
    """What to search for in a record question: "Who wrote the article about Xi's visit?" -> "Xi's visit"."""
    m = _TOPIC.search(question)
    return m.group("topic").strip() if m and len(m.group("topic").split()) >= 2 else question


def verify(citation: Citation, passages: list[Passage]) -> bool:
    """Whether a record citation's value is exactly what the cited article's stored record says."""
    for p in passages:
        if p.id == citation.passage_id and citation.record_field in ("author", "source", "date"):
            return getattr(p, citation.record_field).strip() == citation.quote and p.article_id == citation.article_id
    return False
