"""The answer components behind one protocol (record, extractive, LLM), and the table that picks one per question."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from articleqa.models import Passage
from articleqa.settings import Settings
from qa.turn import Draft, Request, Turn

if TYPE_CHECKING:
    from articleqa.embed import Embedder
    from qa.extractive import ExtractiveAnswerer
    from qa.generative import LLMAnswerer


@runtime_checkable
class Answerer(Protocol):
    """An answer component: drafts an answer to `query` from ranked passages (numbered 1..n in list order)."""

    mode: str

    def run(self, query: str, passages: list[Passage]) -> Draft: ...


def stream_draft(answerer: Answerer, turn: Turn) -> Iterator[str | Draft]:
    """Text deltas an answerer streams while it works (only generative ones do), then its Draft, last."""
    streaming = getattr(answerer, "stream_turn", None)
    if streaming is not None:
        yield from streaming(turn)
        return
    t = time.perf_counter()
    draft = answerer.run(turn.query, turn.passages)
    if key := getattr(answerer, "timing_key", None):
        turn.timings[key] = time.perf_counter() - t
    yield draft


class RecordAnswerer:
    """Answers "who wrote / who published / when was the article about X published" from the best article's record."""

    mode = "record"

    def __init__(self, record_field: str):
        self.record_field = record_field

    def run(self, query: str, passages: list[Passage]) -> Draft:
        """The value copied from the top passage's article record, cited to that field; a refusal when it is empty."""
        from qa.cite import format_date
        from qa.metadata import MetadataAnswerer

        record = MetadataAnswerer().run(self.record_field, passages)
        if record.citation is None:  # the article has no such field: say so rather than guess
            return Draft(refused=True, reason=record.text, mode=self.mode)
        c = record.citation
        published = ", ".join(x for x in (c.source, format_date(c.date) if c.date else "") if x)
        text = record.text + (f"\n(Published: {published}.)" if published and self.record_field == "author" else "")
        return Draft(text=text, short_answer=record.short_answer, citations=[c], mode=self.mode)


class GenerativeAnswerer:
    """LLM answers, gated by the extractive evidence score and falling back to the extractive answer.

    The LLM is never called when the extractive answerer refuses (no evidence); when it is unreachable or too slow,
    the extractive answer is given with a notice.
    """

    mode = "llm"

    def __init__(self, settings: Settings, gate: ExtractiveAnswerer, model: LLMAnswerer | None = None):
        self.settings = settings
        self.gate = gate
        self.model = model  # built on first use
        self._lock = threading.Lock()

    def llm(self) -> LLMAnswerer:
        with self._lock:
            if self.model is None:
                from qa.generative import LLMAnswerer

                self.model = LLMAnswerer(self.settings)
            return self.model

    def run(self, query: str, passages: list[Passage]) -> Draft:
        """The whole answer at once (see `stream_turn`)."""
        *_, draft = self.stream_turn(Turn(Request(query), query, passages, self.mode))
        assert isinstance(draft, Draft)
        return draft

    def stream_turn(self, turn: Turn) -> Iterator[str | Draft]:
        """The LLM's text as it streams, then the Draft; a follow-up is asked as its rewritten query."""
        from qa.generative import LLMUnavailable

        t = time.perf_counter()
        gate = self.gate.run(turn.query, turn.passages)
        turn.timings["extract"] = time.perf_counter() - t
        if gate.refused:
            gate.mode = self.mode
            yield gate
            return
        question = turn.query if turn.request.history else turn.request.question
        pieces: list[str] = []
        t = time.perf_counter()
        try:
            for delta in self.llm().stream(question, turn.passages):
                if not pieces:
                    turn.timings["first_token"] = time.perf_counter() - t
                pieces.append(delta)
                yield delta
            draft = Draft(text="".join(pieces), short_answer=gate.short_answer, mode=self.mode)
        except LLMUnavailable as exc:
            fallback = gate.answer_text()
            yield fallback
            draft = Draft(text=fallback, short_answer=gate.short_answer, mode="extractive",
                          notices=[f"The LLM was not available ({exc}); showing the extractive answer instead."])
        turn.timings["generate"] = time.perf_counter() - t
        draft.streamed = draft.refuse_uncited = True
        yield draft


class Answerers:
    """The answer components of one Asker, created once; `select` picks the one for a question."""

    def __init__(self, settings: Settings, embedder: Embedder):
        from qa.extractive import ExtractiveAnswerer

        self.extractive = ExtractiveAnswerer(settings, embedder)
        self.llm: Answerer = GenerativeAnswerer(settings, self.extractive)
        if settings.llm.answer_from == "span":  # the LLM reads the answer span out of the evidence sentences
            from qa.llm_reader import SpanLLMAnswerer

            gate = self.extractive
            shown = settings.llm.span_sentences
            if shown > settings.answer.dense_candidates:  # the reader shows only embedded (parsed) sentences
                wider = settings.with_overrides(dense_candidates=shown)
                gate = ExtractiveAnswerer(wider, embedder, self.extractive.reader)
            self.llm = SpanLLMAnswerer(settings, gate)
        self.multihop: Answerer | None = None  # qa.multihop.MultiHopComponent, plugged in by the Asker
        self.multihop_llm: Answerer | None = None  # qa.multihop_llm.MultiHopLLMComponent, its `--mode llm` route

    def select(self, turn: Turn) -> Answerer:
        """Record questions read the article's record (when anything was found); questions the plan found to be
        about several reports go to the multi-article answerer (its LLM route in llm mode); else the mode's
        answerer."""
        if turn.plan is not None and self.multihop is not None:
            if turn.mode == "llm" and self.multihop_llm is not None:
                return self.multihop_llm
            return self.multihop
        if turn.record_field and turn.passages:
            return RecordAnswerer(turn.record_field)
        return self.llm if turn.mode == "llm" else self.extractive
