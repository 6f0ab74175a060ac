"""The question-answering API shared by the CLI, the chat and the evaluation: rewrite -> retrieve -> answer -> check."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from articleqa.embed import get_embedder
from articleqa.models import Answer, Passage
from articleqa.settings import Settings
from articleqa.store import Store
from qa.answerers import Answerers, stream_draft
from qa.dates import shift
from qa.metadata import record_field, record_topic
from qa.retrieve import Filters, HybridRetriever, Retrieval
from qa.turn import Draft, Request, Turn

__all__ = ["AskEvent", "Asker", "Request", "publish_window"]

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


class Asker:
    """Answers questions over one store. Create once per process and share: models load lazily, once."""

    def __init__(self, settings: Settings, store: Store | None = None):
        from qa.cite import CitationChecker
        from qa.rewrite import QueryRewriter

        self.settings = settings
        self.embedder = get_embedder(settings)
        self.store = store or Store(settings, self.embedder)
        self.retriever = HybridRetriever(settings, self.store, self.embedder)
        self.answerers = Answerers(settings, self.embedder)
        self.checker = CitationChecker(self.embedder, settings.answer)
        self.rewriter = QueryRewriter(settings)
        self._thread = threading.local()  # per-question state of questions answered at once (see after_retrieval)
        self._planner: tuple[str, object] | None = None  # (store generation it was built at, QuestionPlanner)
        self._sources_seen: tuple[int | None, set[str]] | None = None  # (change-log sequence, publications then)
        from qa.multihop import MultiHopComponent

        self.answerers.multihop = MultiHopComponent(
            self.embedder, self.plan, lambda w: bool(self.retriever.keywords.search(w, 1)))
        from qa.multihop_llm import MultiHopLLMComponent

        self.answerers.multihop_llm = MultiHopLLMComponent(settings, self.answerers.multihop)

    @property
    def after_retrieval(self) -> Callable[[], None] | None:
        """Called once retrieval is done: a short-lived reader gives the store back to a waiting ingest here.

        Per thread: the answer daemon answers questions at once with one Asker, each releasing its own read lease.
        """
        return getattr(self._thread, "after_retrieval", None)

    @after_retrieval.setter
    def after_retrieval(self, fn: Callable[[], None] | None) -> None:
        self._thread.after_retrieval = fn

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
        req, problem = _prepared(Request(request) if isinstance(request, str) else request,
                                 self.settings.limits.max_question_chars)
        if problem:  # nothing to look up (markup, no words, too long): refuse before touching the store
            answer = Answer(question=req.question, answer=problem, refused=True, refusal_reason=problem,
                            rewritten_query=req.question, mode=req.mode or self.settings.answer.mode)
            yield AskEvent("sources", passages=[])
            yield AskEvent("done", text=answer.answer, answer=answer)
            return
        turn = self.prepare(req)
        yield AskEvent("query", text=turn.query)
        yield AskEvent("sources", passages=turn.passages)
        answerer = self.answerers.select(turn)
        draft = Draft(refused=True)
        # The query, not the question: it is self-contained, and date phrases ("this week") that became a filter are
        # gone from it; they rarely appear in the sentence that answers and would only lower its evidence score.
        for item in stream_draft(answerer, turn):
            if isinstance(item, Draft):
                draft = item
            else:
                yield AskEvent("delta", text=item)
        answer = self.finish(turn, draft)
        if not answer.refused and not draft.streamed:
            for sentence in _sentences_for_streaming(answer.answer):
                yield AskEvent("delta", text=sentence)
        answer.timings["total"] = time.perf_counter() - turn.started
        yield AskEvent("done", text=answer.answer, answer=answer)

    def prepare(self, req: Request) -> Turn:
        """Rewrite a follow-up, recognise a record question and retrieve: the turn an answerer works on."""
        started = time.perf_counter()
        timings: dict[str, float] = {}
        t = time.perf_counter()
        query = self.rewrite(req)
        timings["rewrite"] = time.perf_counter() - t
        field = record_field(query)
        if field:  # "Who wrote the article about X?": find the article about X, then read its record
            query = record_topic(query)
        mode = req.mode or self.settings.answer.mode
        plan = None if field else self.plan(query)
        if plan is not None and plan.multi_article:  # questions naming several reports: qa/multihop.py
            filters = as_of(Filters(req.source, req.since, req.until), self._as_of(req))
            found = self._plan_retriever().run(plan, query, filters)
            if self.after_retrieval is not None:
                self.after_retrieval()
            timings.update(found.timings)
            return Turn(req, query, found.passages, mode, field, [], timings, started, plan, found.groups)
        query, retrieval, notices = self.retrieve(req, query)
        if self.after_retrieval is not None:
            self.after_retrieval()
        timings.update(retrieval.timings)
        return Turn(req, query, retrieval.passages, mode, field, notices, timings, started)

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
            retrieval = self.retriever.run(query, as_of(Filters(source=req.source), self._as_of(req)), k=k)
        return query, retrieval, notices

    def plan(self, query: str):
        """The question's qa.plan.Plan over the publications stored now (the planner is rebuilt after an ingest)."""
        from qa.plan import QuestionPlanner

        # Keyed on the store's generation token, the same one the keyword index follows: a replaced article can
        # change the publications without changing the passage count.
        generation, seq = self.store.change_state()
        if self._planner is None or self._planner[0] != generation:
            self._planner = (generation, QuestionPlanner(sorted(self._publications(seq))))
        return self._planner[1].run(query)

    def _publications(self, seq: int | None) -> set[str]:
        """The stored publications: read in full once, then only the articles the change log names since (reading
        every record after each write would cost time proportional to the store). A publication whose last article
        was deleted stays known until the process restarts: the planner then filters on a source with no articles."""
        seen = self._sources_seen
        if seen is None or seq is None or seen[0] is None:
            found = {r.source for r in self.store.records().values() if r.source}
        else:
            ids = sorted({a for c in self.store.changes_since(seen[0]) for a in c.articles})
            found = set(seen[1])
            for i in range(0, len(ids), 500):
                got = self.store.articles.get(ids=ids[i : i + 500], include=["metadatas"])
                found |= {str(m["source"]) for m in got["metadatas"] or [] if m and m.get("source")}
        self._sources_seen = (seq, found)
        return found

    def _plan_retriever(self):
        from qa.multihop import PlanRetriever

        return PlanRetriever(self.retriever)

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
        return as_of(Filters(req.source, req.since or since, req.until or until), self._as_of(req)), query, notice

    def _as_of(self, req: Request) -> dt.date | None:
        """The date a question is asked "as of" when the user or the test set set one (not merely today)."""
        if req.reference_date:
            return req.reference_date
        ref = self.settings.answer.reference_date
        return dt.date.fromisoformat(ref) if ref else None

    def finish(self, turn: Turn, draft: Draft) -> Answer:
        """Check the draft's citations and make the Answer, or the refusal when there is no supported answer."""
        turn.notices += draft.notices
        if draft.refused or not turn.passages:
            return self._refusal(turn, draft.reason if turn.passages else "", draft.mode)
        if draft.citations is not None:  # a record answer: its citation was checked against the record
            return self._answer(turn, draft.answer_text(), draft.citations, [], draft)
        t = time.perf_counter()
        checked = self.checker.run(draft.answer_text(), turn.passages)
        turn.timings["check"] = time.perf_counter() - t
        if draft.refuse_uncited and not checked.citations:
            # The model wrote nothing the passages support (or said they don't answer): refuse honestly.
            return self._refusal(turn, "The generated answer was not supported by the passages.", draft.mode)
        text = _dated(checked.text, checked.citations)
        if draft.lead and checked.citations:  # the verdict leads; it was computed from the sentences just checked
            text = f"{draft.lead}\n{text}"
        return self._answer(turn, text, checked.citations, checked.unsupported, draft)

    def _answer(self, turn: Turn, text: str, citations: list, unsupported: list[str], draft: Draft) -> Answer:
        from qa.reader import cite_short

        # The direct answer leads, shown only once our code found it verbatim in the quote it cites; a record
        # answer's short answer is its checked record field.
        direct = cite_short(draft.short, citations)
        if direct is not None:
            text = f"{direct.text} [{direct.number}]\n{text}"
        record = draft.citations is not None and bool(draft.short_answer) and bool(citations)
        # A multi-article verdict ("Yes", "before") is computed in code from all the sentences it cites, so it has
        # no single citation or offsets of its own.
        verdict = bool(draft.lead) and bool(draft.short_answer) and bool(citations)
        return Answer(
            question=turn.request.question,
            answer=text,
            short_answer=direct.text if direct else (draft.short_answer if record or verdict else ""),
            short_answer_citation=direct.number if direct else (citations[0].number if record else 0),
            short_answer_start=direct.start if direct else -1,
            short_answer_end=direct.end if direct else -1,
            citations=citations,
            passages=turn.passages,
            rewritten_query=turn.query,
            mode=draft.mode,
            notices=turn.notices,
            unsupported=unsupported,
            timings=turn.timings,
            plan=turn.plan.to_dict() if turn.plan is not None else {},
        )

    def _refusal(self, turn: Turn, reason: str, mode: str) -> Answer:
        if not turn.passages:
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
            question=turn.request.question,
            answer=text,
            refused=True,
            refusal_reason=reason,
            passages=turn.passages,
            rewritten_query=turn.query,
            mode=mode,
            notices=turn.notices,
            timings=turn.timings,
            plan=turn.plan.to_dict() if turn.plan is not None else {},
        )

    # ---- LangChain view ------------------------------------------------------------------------------------
    def as_runnable(self):
        """This pipeline as a LangChain runnable, for tracing and reuse: `stream()` itself, not a second chain.

        Input: {"question": str, "history": [(q, a), ...], optional "source", "since", "until", "mode",
        "reference_date"}; output: the `Answer`.
        """
        from langchain_core.runnables import RunnableLambda

        def answer(x: dict[str, Any]) -> Answer:
            return self.ask(Request(**{"history": [], **x}))

        return RunnableLambda(answer).with_config(run_name="articleqa")


def warm_up(settings: Settings) -> None:
    """Load the embedding model and spaCy now (seconds), e.g. before a short-lived process takes the store lock."""
    from articleqa.text import nlp

    get_embedder(settings).encode_query("warm up")
    nlp()


def _prepared(req: Request, max_chars: int) -> tuple[Request, str]:
    """The request with its question and history as plain, encodable text, and a refusal reason ("" if none)."""
    from dataclasses import replace

    from articleqa.safe_text import clean_text
    from qa.question_guard import prepare_question

    question, problem = prepare_question(req.question, max_chars)
    history = [(prepare_question(q, max_chars)[0], clean_text(a)) for q, a in req.history]
    return replace(req, question=question, history=history), problem


def publish_window(since: dt.date | None, until: dt.date | None) -> tuple[dt.date | None, dt.date | None]:
    """Turn the dates a question names (when things happened) into a publish-date filter.

    News reports an event on the day or after it, sometimes with a day's lag in another time zone, and a quiz's
    "this week" often includes the weekend before. So a single day ("on January 6, 2021") only sets a lower bound,
    and ranges are widened by 3 days before and 7 days after (measured on realtimeqa-dev: bench/retrieval.py).
    """
    if since and until and since == until:
        return since, None
    return (shift(since, -3) if since else None, shift(until, 7) if until else None)  # clamped to the calendar


def as_of(filters: Filters, reference: dt.date | None) -> Filters:
    """Filters for a question asked as of `reference`: nothing published after it, and the recency prior on."""
    if reference is None:
        return filters
    until = min(filters.until, reference) if filters.until else reference
    return Filters(filters.source, filters.since, until, reference)


def _reference(settings: Settings) -> dt.date:
    if settings.answer.reference_date:
        return dt.date.fromisoformat(settings.answer.reference_date)
    return dt.date.today()


def _span_text(since: dt.date | None, until: dt.date | None) -> str:
    if since and until:
        return f"between {since.isoformat()} and {until.isoformat()}"
    if since:
        return f"since {since.isoformat()}"
    return f"until {until.isoformat()}" if until else "at any date"


def _dated(text: str, citations: list) -> str:
    """Resolve relative days in quoted sentences against their article's date; say when the sources were published."""
    from qa.cite import format_date
    from qa.dates import resolve_relative_dates

    # Relative days in quoted sentences mean nothing without the article's date: resolve them.
    for c in citations:
        core = c.quote.rstrip('.!?"”’ ')  # the checker puts [n] before the final punctuation
        if c.date and core and core in text:
            try:
                text = text.replace(core, resolve_relative_dates(core, dt.date.fromisoformat(c.date[:10])), 1)
            except ValueError:
                pass
    dated = []
    for c in citations:
        label = f"{c.source or c.title or 'the article'}" + (f", {format_date(c.date)}" if c.date else "")
        if label not in dated:
            dated.append(label)
    return f"{text}\n(Published: {'; '.join(dated)}.)" if dated else text


def _sentences_for_streaming(text: str) -> list[str]:
    """The answer in pieces that end after a citation marker, with the whitespace (a newline after the direct
    answer) kept, so the pieces join up to exactly the answer."""
    parts = re.split(r"(?<=\])(\s+)", text)
    return [parts[i] + (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)]
