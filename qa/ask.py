"""The question-answering API shared by the CLI, the chat and the evaluation: rewrite -> retrieve -> answer -> check."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from articleqa.embed import get_embedder
from articleqa.models import Answer, Passage
from articleqa.settings import Settings
from articleqa.store import Store
from qa.cite import format_date
from qa.metadata import MetadataAnswerer, record_field, record_topic
from qa.retrieve import Filters, HybridRetriever, Retrieval

EventKind = Literal["query", "sources", "delta", "done"]


@dataclass
class AskEvent:
    """One step of a streamed answer.

    kinds: `query` (the rewritten retrieval query, in `text`), `sources` (the passages the answer is built from,
    before any answer text), `delta` (answer text to append), `done` (the final checked `answer`; its text can
    differ from the concatenated deltas when the checker removed or re-numbered something).
    """

    kind: EventKind
    text: str = ""
    passages: list[Passage] = field(default_factory=list)
    answer: Answer | None = None


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


class Asker:
    """Answers questions over one store. Create once per process and share: models load lazily, once."""

    def __init__(self, settings: Settings, store: Store | None = None):
        from qa.cite import CitationChecker
        from qa.extractive import ExtractiveAnswerer
        from qa.rewrite import QueryRewriter

        self.settings = settings
        self.embedder = get_embedder(settings)
        self.store = store or Store(settings, self.embedder)
        self.retriever = HybridRetriever(settings, self.store, self.embedder)
        self.extractive = ExtractiveAnswerer(settings, self.embedder)
        self.checker = CitationChecker(self.embedder)
        self.rewriter = QueryRewriter(settings)
        self._planner: tuple[int, object] | None = None  # (passage count it was built at, QuestionPlanner)
        self._llm = None
        self._llm_lock = threading.Lock()

    # ---- public API ------------------------------------------------------------------------------------------
    def ask(self, request: Request | str) -> Answer:
        """Answer a question and return the structured result (see `articleqa.models.Answer`)."""
        final = None
        for event in self.stream(request):
            if event.kind == "done":
                final = event.answer
        assert final is not None
        return final

    def stream(self, request: Request | str) -> Iterator[AskEvent]:
        """Answer a question step by step; the last event is `done` with the checked Answer."""
        req = Request(request) if isinstance(request, str) else request
        mode = req.mode or self.settings.mode
        timings: dict[str, float] = {}
        t_all = time.perf_counter()

        t = time.perf_counter()
        query = self.rewrite(req)
        timings["rewrite"] = time.perf_counter() - t
        field = record_field(query)
        if field:  # "Who wrote the article about X?": find the article about X, then read its record
            query = record_topic(query)
        plan = None if field else self.plan(query)
        if plan is not None and plan.multi_article:  # questions naming several reports: qa/multihop.py
            yield from self._multihop(req, query, plan, timings, t_all)
            return
        query, retrieval, notices = self.retrieve(req, query)
        yield AskEvent("query", text=query)
        timings.update(retrieval.timings)
        passages = retrieval.passages
        if field and passages:
            yield from self._record_answer(req, query, passages, field, notices, timings, t_all)
            return

        t = time.perf_counter()
        # The query, not the question: it is self-contained, and date phrases ("this week") that became a filter are
        # gone from it; they rarely appear in the sentence that answers and would only lower its evidence score.
        draft = self.extractive.run(query, passages)
        timings["extract"] = time.perf_counter() - t

        if not passages or draft.refused:
            answer = self._refusal(req, query, passages, draft.reason if passages else "", mode, notices, timings)
            yield AskEvent("sources", passages=passages)
            answer.timings["total"] = time.perf_counter() - t_all
            yield AskEvent("done", text=answer.answer, answer=answer)
            return

        if mode == "llm":
            yield from self._llm_answer(req, query, passages, draft, notices, timings, t_all)
            return

        text = " ".join(f"{s} [{n}]" for s, n in draft.sentences)
        t = time.perf_counter()
        checked = self.checker.run(text, passages)
        timings["check"] = time.perf_counter() - t
        answer = self._finish(req, query, passages, checked, draft.short_answer, "extractive", notices, timings)
        yield AskEvent("sources", passages=passages)
        for sentence in _sentences_for_streaming(answer.answer):
            yield AskEvent("delta", text=sentence)
        answer.timings["total"] = time.perf_counter() - t_all
        yield AskEvent("done", text=answer.answer, answer=answer)

    def rewrite(self, req: Request) -> str:
        """The self-contained retrieval query for a (possibly follow-up) question."""
        return self.rewriter.run(req.question, req.history) if req.history else req.question

    def retrieve(self, req: Request, query: str, k: int | None = None) -> tuple[str, Retrieval, list[str]]:
        """Retrieve exactly as `stream` does: a date phrase in the question becomes a publish-date filter, dropped
        again (with a notice) when it filters out everything.

        Returns:
            (query without the date phrase, the retrieval, notices for the user)
        """
        plan = self.plan(query)
        if plan.multi_article:  # each named report gets its own sub-query; dates are per report, not global
            found = self._plan_retriever().run(plan, query, Filters(req.source, req.since, req.until), k=k or 10)
            return query, Retrieval(found.passages, timings=found.timings), []
        filters, query, notice = self._filters(req, query)
        retrieval = self.retriever.run(query, filters, k=k)
        notices = [notice] if notice else []
        if not retrieval.passages and (filters.since or filters.until) and not (req.since or req.until):
            notices = ["No article matched the date in the question; searched all dates instead."]
            retrieval = self.retriever.run(query, Filters(source=req.source), k=k)
        return query, retrieval, notices

    def plan(self, query: str):
        """The question's qa.plan.Plan over the publications stored now (the planner is rebuilt after an ingest)."""
        from qa.plan import QuestionPlanner

        count = self.store.count_passages()
        if self._planner is None or self._planner[0] != count:
            sources = sorted({r.source for r in self.store.records().values() if r.source})
            self._planner = (count, QuestionPlanner(sources))
        return self._planner[1].run(query)

    def _plan_retriever(self):
        from qa.multihop import PlanRetriever

        return PlanRetriever(self.retriever)

    def _multihop(self, req, query, plan, timings, t_all) -> Iterator[AskEvent]:
        from qa.multihop import MultiHopAnswerer

        yield AskEvent("query", text=query)
        found = self._plan_retriever().run(plan, query, Filters(req.source, req.since, req.until), k=10)
        timings.update(found.timings)
        t = time.perf_counter()
        keywords = self.retriever.keywords
        result = MultiHopAnswerer(self.embedder, in_store=lambda w: bool(keywords.search(w, 1))).run(plan, found)
        timings["extract"] = time.perf_counter() - t
        if result.refused:
            answer = self._refusal(req, query, found.passages[: self.settings.top_k], result.reason, "multihop", [],
                                   timings)
        else:
            t = time.perf_counter()
            checked = self.checker.run(" ".join(f"{s} [{n}]" for s, n in result.sentences), result.passages)
            timings["check"] = time.perf_counter() - t
            answer = self._finish(req, query, result.passages, checked, result.short_answer, "multihop", [], timings)
            # The verdict is computed in code from the cited sentences, so it leads the checked text unchecked.
            answer.answer = f"{result.lead}\n{answer.answer}"
        answer.plan = {**plan.to_dict(), "features": result.features}
        yield AskEvent("sources", passages=answer.passages)
        if not answer.refused:
            for sentence in _sentences_for_streaming(answer.answer):
                yield AskEvent("delta", text=sentence)
        answer.timings["total"] = time.perf_counter() - t_all
        yield AskEvent("done", text=answer.answer, answer=answer)

    # ---- steps -----------------------------------------------------------------------------------------------
    def _filters(self, req: Request, query: str) -> tuple[Filters, str, str]:
        from qa.dates import question_date_range, strip_date_phrase

        reference = req.reference_date or _reference(self.settings)
        since, until, phrase = question_date_range(req.question, reference)
        notice = ""
        if phrase and not (req.since or req.until):
            query = strip_date_phrase(query, phrase) or query
            since, until = publish_window(since, until)
            notice = f"Only articles published {_span_text(since, until)} (from “{phrase}”)."
        else:
            since, until = None, None
        return Filters(req.source, req.since or since, req.until or until), query, notice

    def _record_answer(self, req, query, passages, field, notices, timings, t_all) -> Iterator[AskEvent]:
        yield AskEvent("sources", passages=passages)
        record = MetadataAnswerer().run(field, passages)
        if record.citation is None:  # the article has no such field: say so rather than guess
            answer = self._refusal(req, query, passages, record.text, "record", notices, timings)
        else:
            c = record.citation
            published = ", ".join(x for x in (c.source, format_date(c.date) if c.date else "") if x)
            text = record.text + (f"\n(Published: {published}.)" if published and field == "author" else "")
            yield AskEvent("delta", text=text)
            answer = Answer(
                question=req.question, answer=text, short_answer=record.short_answer, citations=[c],
                passages=passages, rewritten_query=query, mode="record", notices=notices, timings=timings,
            )
        answer.timings["total"] = time.perf_counter() - t_all
        yield AskEvent("done", text=answer.answer, answer=answer)

    def _llm_answer(self, req, query, passages, draft, notices, timings, t_all) -> Iterator[AskEvent]:
        from qa.generative import LLMUnavailable

        yield AskEvent("sources", passages=passages)
        pieces: list[str] = []
        t = time.perf_counter()
        try:
            answerer = self._llm_answerer()
            for delta in answerer.stream(req.question if not req.history else query, passages):
                if not pieces:
                    timings["first_token"] = time.perf_counter() - t
                pieces.append(delta)
                yield AskEvent("delta", text=delta)
            mode = "llm"
        except LLMUnavailable as exc:
            notices.append(f"The LLM was not available ({exc}); showing the extractive answer instead.")
            pieces = [" ".join(f"{s} [{n}]" for s, n in draft.sentences)]
            mode = "extractive"
            yield AskEvent("delta", text=pieces[0])
        timings["generate"] = time.perf_counter() - t
        t = time.perf_counter()
        checked = self.checker.run("".join(pieces), passages)
        timings["check"] = time.perf_counter() - t
        if not checked.citations:
            # The model wrote nothing the passages support (or said they don't answer): refuse honestly.
            answer = self._refusal(
                req, query, passages, "The generated answer was not supported by the passages.", mode, notices, timings
            )
        else:
            answer = self._finish(req, query, passages, checked, draft.short_answer, mode, notices, timings)
        answer.timings["total"] = time.perf_counter() - t_all
        yield AskEvent("done", text=answer.answer, answer=answer)

    def _llm_answerer(self):
        with self._llm_lock:
            if self._llm is None:
                from qa.generative import LLMAnswerer

                self._llm = LLMAnswerer(self.settings)
            return self._llm

    def _finish(self, req, query, passages, checked, short, mode, notices, timings) -> Answer:
        from qa.cite import format_date
        from qa.dates import resolve_relative_dates

        text = checked.text
        # Relative days in quoted sentences mean nothing without the article's date: resolve them.
        for c in checked.citations:
            core = c.quote.rstrip('.!?"”’ ')  # the checker puts [n] before the final punctuation
            if c.date and core and core in text:
                try:
                    text = text.replace(core, resolve_relative_dates(core, dt.date.fromisoformat(c.date[:10])), 1)
                except ValueError:
                    pass
        dated = []
        for c in checked.citations:
            label = f"{c.source or c.title or 'the article'}" + (f", {format_date(c.date)}" if c.date else "")
            if label not in dated:
                dated.append(label)
        if dated:
            text = f"{text}\n(Published: {'; '.join(dated)}.)"
        return Answer(
            question=req.question,
            answer=text,
            short_answer=short,
            citations=checked.citations,
            passages=passages,
            rewritten_query=query,
            mode=mode,
            notices=notices,
            unsupported=checked.unsupported,
            timings=timings,
        )

    def _refusal(self, req, query, passages, reason, mode, notices, timings) -> Answer:
        if not passages:
            total = self.store.count_passages()
            reason = (
                "No articles are stored yet: add some with `articleqa ingest`."
                if not total
                else ("No stored article matches the question and its filters.")
            )
        text = "The ingested articles do not answer this question."
        if reason:
            text += f" {reason}"
        return Answer(
            question=req.question,
            answer=text,
            refused=True,
            refusal_reason=reason,
            passages=passages,
            rewritten_query=query,
            mode=mode,
            notices=notices,
            timings=timings,
        )

    # ---- LangChain view ------------------------------------------------------------------------------------
    def as_runnable(self):
        """The same pipeline as LangChain runnables (rewrite | retrieve | answer | check), for tracing and reuse.

        Input: {"question": str, "history": [(q, a), ...]}; output: an `Answer`.
        """
        from langchain_core.runnables import RunnableLambda

        def rewrite(x: dict[str, Any]) -> dict[str, Any]:
            q = self.rewriter.run(x["question"], x.get("history") or []) if x.get("history") else x["question"]
            return {**x, "query": q}

        def retrieve(x: dict[str, Any]) -> dict[str, Any]:
            return {**x, "passages": self.retriever.run(x["query"]).passages}

        def answer(x: dict[str, Any]) -> dict[str, Any]:
            return {**x, "draft": self.extractive.run(x["query"], x["passages"])}

        def check(x: dict[str, Any]) -> Answer:
            req = Request(x["question"], x.get("history") or [])
            d = x["draft"]
            if d.refused or not x["passages"]:
                return self._refusal(req, x["query"], x["passages"], d.reason, "extractive", [], {})
            checked = self.checker.run(" ".join(f"{s} [{n}]" for s, n in d.sentences), x["passages"])
            return self._finish(req, x["query"], x["passages"], checked, d.short_answer, "extractive", [], {})

        return (
            RunnableLambda(rewrite).with_config(run_name="rewrite")
            | RunnableLambda(retrieve).with_config(run_name="retrieve")
            | RunnableLambda(answer).with_config(run_name="answer")
            | RunnableLambda(check).with_config(run_name="check")
        )


def publish_window(since: dt.date | None, until: dt.date | None) -> tuple[dt.date | None, dt.date | None]:
    """Turn the dates a question names (when things happened) into a publish-date filter.

    News reports an event on the day or after it, sometimes with a day's lag in another time zone, and a quiz's
    "this week" often includes the weekend before. So a single day ("on January 6, 2021") only sets a lower bound,
    and ranges are widened by 3 days before and 7 days after (measured on realtimeqa-dev: bench/retrieval.py).
    """
    if since and until and since == until:
        return since, None
    return (since - dt.timedelta(days=3) if since else None, until + dt.timedelta(days=7) if until else None)


def _reference(settings: Settings) -> dt.date:
    if settings.reference_date:
        return dt.date.fromisoformat(settings.reference_date)
    return dt.date.today()


def _span_text(since: dt.date | None, until: dt.date | None) -> str:
    if since and until:
        return f"between {since.isoformat()} and {until.isoformat()}"
    if since:
        return f"since {since.isoformat()}"
    return f"until {until.isoformat()}" if until else "at any date"


def _sentences_for_streaming(text: str) -> list[str]:
    parts = re.split(r"(?<=\])\s+", text)
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]
