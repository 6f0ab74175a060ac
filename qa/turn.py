"""The records one question carries through the pipeline: the request, the turn, and an answerer's draft."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from articleqa.models import Citation, Passage

if TYPE_CHECKING:
    from qa.reader import ShortAnswer
    from qa.reader_features import SentenceView


@dataclass
class Request:
    """A question with its conversation and restrictions."""

    question: str
    history: list[tuple[str, str]] = field(default_factory=list)  # earlier (question, answer) turns
    source: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    mode: str | None = None  # "extractive" | "llm"; default from settings
    reference_date: dt.date | None = None


@dataclass
class Turn:
    """One question on its way through the pipeline: what the answerers and the finishing steps share."""

    request: Request
    query: str  # the self-contained retrieval query (rewritten, date phrase and record wording removed)
    passages: list[Passage]
    mode: str  # the answer mode asked for ("extractive" or "llm")
    record_field: str = ""  # "author"/"source"/"date" for a question about an article's record
    notices: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    started: float = field(default_factory=time.perf_counter)
    plan: Any = None  # a qa.plan.Plan when the question names several reports (qa/multihop.py answers it)
    groups: list[list[Passage]] = field(default_factory=list)  # that plan's passages per step, best first


@dataclass
class Draft:
    """What an answerer produced, before the citation check: sentences with passage numbers, text, or a refusal."""

    sentences: list[tuple[str, int]] = field(default_factory=list)  # verbatim sentences, 1-based passage numbers
    short_answer: str = ""
    score: float = 0.0  # evidence of the best sentence (extractive)
    refused: bool = False
    reason: str = ""
    kind: str = ""  # expected answer kind ("person", "date", ...; "" when any sentence may answer)
    text: str = ""  # answer text the answerer wrote itself, with [n] markers (LLM, record); else from `sentences`
    mode: str = "extractive"  # what answered: "extractive", "llm" or "record"
    citations: list[Citation] | None = None  # already checked by the answerer (record answers skip the checker)
    streamed: bool = False  # the text was already streamed as it was produced (an LLM's tokens)
    refuse_uncited: bool = False  # refuse when the checker finds no support at all (generated text)
    notices: list[str] = field(default_factory=list)
    short: ShortAnswer | None = None  # where `short_answer` was read: short.sentence[start:end], verbatim
    evidence: list[SentenceView] = field(default_factory=list)  # the sentences it was read from, best first
    lead: str = ""  # a verdict computed in code from the cited sentences, put before the checked text

    def answer_text(self) -> str:
        """The answer with [n] markers: the answerer's own text, else the sentences each followed by its number."""
        return self.text or " ".join(f"{s} [{n}]" for s, n in self.sentences)
