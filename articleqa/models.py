"""The records that flow through articleqa: raw documents, articles, passages, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

META_FIELDS = ("title", "date", "source", "url", "author")


@dataclass(kw_only=True)
class ArticleMeta:
    """What is known about an article besides its text; articles, passages, citations and records all carry it.

    Keyword-only, so the records that inherit it keep their own positional fields first. How it is written to and
    read from Chroma lives in `articleqa.store` only.
    """

    title: str = ""
    date: str = ""  # ISO YYYY-MM-DD or ""
    source: str = ""
    url: str = ""
    author: str = ""

    def meta_fields(self) -> dict[str, str]:
        """The article fields as a dict, to hand to another record: `Passage(..., **article.meta_fields())`."""
        return {name: getattr(self, name) for name in META_FIELDS}




@dataclass
class RawDocument:
    """One input as loaded, before cleaning.

    `text` is plain text or HTML (`is_html`). Fields other than `text` are what the loader already knows
    (from a JSON record, a feed entry or HTTP headers); cleaning fills in the rest.
    """

    origin: str  # file path, "file.jsonl:12" or URL: what error messages and reports name
    text: str
    is_html: bool = False
    doc_id: str | None = None
    title: str | None = None
    url: str | None = None
    date: str | None = None  # ISO YYYY-MM-DD
    source: str | None = None
    author: str | None = None
    # The file or feed this record or entry came from ("" for a whole input): where it came from, not what it is.
    parent: str = field(default="", compare=False)


@dataclass
class Article(ArticleMeta):
    """A cleaned article: the unit that is stored, replaced, deduplicated and deleted."""

    id: str
    text: str  # cleaned article body; passage offsets point into it
    dateline: str = ""
    origin: str = ""


@dataclass
class Passage(ArticleMeta):
    """A sentence-aligned slice of an article with its character offsets into `Article.text`."""

    id: str
    article_id: str
    text: str
    position: int  # 0-based index within the article
    start: int
    end: int
    score: float = 0.0  # retrieval score, filled by qa.retrieve


@dataclass
class Citation(ArticleMeta):
    """A checked link from an answer sentence to the passage sentence that supports it."""

    number: int  # the [n] in the answer
    passage_id: str
    article_id: str
    quote: str  # the supporting sentence, verbatim from the article
    start: int  # offsets of `quote` in the cleaned article text
    end: int
    passage_text: str = ""
    passage_start: int = 0  # offset of the passage in the article, so a UI can highlight quote inside passage_text
    support: float = 0.0  # 0-1 score from qa.cite
    record_field: str = ""  # "" for a quote from the article text; "author"/"source"/"date" for a field of its record


@dataclass
class Answer:
    """The structured result of one question, shared by the CLI, the chat, the API and the evaluation."""

    question: str
    answer: str  # text with [n] markers
    short_answer: str = ""  # the direct answer when it is a span: verbatim in citation `short_answer_citation`
    short_answer_citation: int = 0  # its [n] (0: no checked span; the answer then leads with its first sentence)
    short_answer_start: int = -1  # its character offsets in that citation's article text (-1 when none)
    short_answer_end: int = -1
    refused: bool = False
    refusal_reason: str = ""
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)  # what the answerer saw (nearest passages when refused)
    rewritten_query: str = ""
    mode: str = "extractive"
    notices: list[str] = field(default_factory=list)  # e.g. "LLM timed out; extractive answer shown"
    unsupported: list[str] = field(default_factory=list)  # answer sentences the checker could not support
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    plan: dict[str, Any] = field(default_factory=dict)  # a multi-article question's plan (qa.plan.Plan.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """The Answer `to_dict` gave (e.g. sent by the answer daemon)."""
        return cls(**{**data, "citations": [Citation(**c) for c in data.get("citations", [])],
                      "passages": [Passage(**p) for p in data.get("passages", [])]})
