"""Runs a test set through the chat's own question-answering chain over an evaluation collection and scores it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from articleqa.models import Answer, Passage
from articleqa.settings import Settings
from evaluation import metrics as M
from evaluation.testset import TestItem, TestSet

REPORT_VERSION = 1


class EvalError(RuntimeError):
    """The evaluation cannot run (empty store, corpus failed to ingest); the message says what to do."""


@dataclass
class ItemResult:
    """One item's question, expectations, what the system answered, and its scores."""

    item: TestItem
    answer: Answer | None
    retrieved: list[Passage]
    gold_articles: list[str]
    scores: M.ItemScores
    reference_date: dt.date | None = None

    def failures(self) -> list[str]:
        """Why this item counts as failed (empty when it passed)."""
        s, item = self.scores, self.item
        out = []
        if s.error:
            return [f"error: {s.error}"]
        if item.answerable and s.refused:
            out.append("refused an answerable question")
        if not item.answerable and not s.refused:
            out.append("answered a question the articles cannot answer")
        if s.contains is not None and not s.refused and not s.contains and (s.f1 or 0.0) < 0.5:
            out.append(f"expected answer not in the answer (F1 {s.f1:.2f})")
        if s.mc_correct == 0.0 and s.mc_pick is not None:
            out.append(f"multiple choice picked {item.choices[s.mc_pick]!r}, expected {item.correct_choice!r}")
        if s.gold_rank == 0:
            out.append("gold article not in the top 10 passages")
        out.extend(f"invalid citation: {p}" for p in s.invalid)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything about the item, JSON-ready."""
        item = asdict(self.item)
        item["reference_date"] = self.reference_date.isoformat() if self.reference_date else None
        item["history"] = [list(t) for t in self.item.history]
        a = self.answer
        scores = asdict(self.scores)
        scores["recall"] = {f"recall@{k}": v for k, v in self.scores.recall.items()}
        return {
            **item,
            "gold_articles": self.gold_articles,
            "failed": bool(self.failures()),
            "failures": self.failures(),
            "got": None if a is None else {
                "answer": a.answer,
                "short_answer": a.short_answer,
                "short_answer_citation": a.short_answer_citation,
                "refused": a.refused,
                "refusal_reason": a.refusal_reason,
                "rewritten_query": a.rewritten_query,
                "mode": a.mode,
                "notices": a.notices,
                "unsupported": a.unsupported,
                "citations": [
                    {"number": c.number, "article_id": c.article_id, "passage_id": c.passage_id, "title": c.title,
                     "date": c.date, "quote": c.quote, "support": round(c.support, 4)}
                    for c in a.citations
                ],
                "passages": [_passage(p) for p in a.passages],
            },
            "retrieved": [{"article_id": p.article_id, "passage_id": p.id, "score": round(p.score, 4)}
                          for p in self.retrieved],
            "scores": scores,
        }


def _passage(p: Passage) -> dict[str, Any]:
    return {"id": p.id, "article_id": p.article_id, "title": p.title, "date": p.date, "score": round(p.score, 4),
            "text": p.text}


@dataclass
class EvalReport:
    """The outcome of one evaluation run: metrics, CIs, per-tag breakdown, latency and every item's result."""

    testset: str
    format: str
    settings: dict[str, Any]
    results: list[ItemResult]
    metrics: dict[str, float | None] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)
    ci: dict[str, list[float]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    ingest: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    created: str = ""

    def compute(self) -> None:
        """Fill metrics, CIs, latency and the per-tag breakdown from `results`."""
        scores = [r.scores for r in self.results]
        self.metrics, self.n = M.summarize(scores)
        self.latency = M.latency([s for s in scores if not s.error])
        for stage, v in self.latency.items():
            self.metrics[f"latency_p50_{stage}"] = v["p50"]
            self.metrics[f"latency_p95_{stage}"] = v["p95"]
        self.ci = M.confidence_intervals(scores)
        tags: dict[str, list[ItemResult]] = {}
        for r in self.results:
            for t in r.item.tags or ["(untagged)"]:
                tags.setdefault(t, []).append(r)
        self.tags = {}
        for t, rs in tags.items():
            m, n = M.summarize([r.scores for r in rs])
            passed = sum(1 for r in rs if not r.failures())
            self.tags[t] = {"items": len(rs), "passed": passed, "metrics": m, "n": n}

    def to_dict(self) -> dict[str, Any]:
        """The whole report, JSON-ready (what `--json` writes and `--compare` reads)."""
        return {
            "version": REPORT_VERSION,
            "created": self.created,
            "testset": self.testset,
            "format": self.format,
            "settings": self.settings,
            "items_total": len(self.results),
            "items_failed": sum(1 for r in self.results if r.failures()),
            "seconds": round(self.seconds, 2),
            "metrics": self.metrics,
            "n": self.n,
            "ci": self.ci,
            "latency": self.latency,
            "tags": self.tags,
            "warnings": self.warnings,
            "ingest": self.ingest,
            "items": [r.to_dict() for r in self.results],
        }


# ---- gold articles -----------------------------------------------------------------------------------------------
class GoldResolver:
    """Maps an item's gold references (ids, URLs, files, titles) onto the ids of articles actually stored.

    An article ingest folded into another as a duplicate counts as the article it was folded into.
    """

    def __init__(self, records: dict[str, Any], origins: dict[str, str] | None = None):
        """Args:
        records: `Store.records()` (id -> ArticleRecord).
        origins: ingest origin -> article id, from this run's ingest (covers duplicates, which have no record).
        """
        self.records = records
        self.alias = {a: r.id for r in records.values() for a in r.aliases}
        self.origins = dict(origins or {})
        for r in records.values():
            if r.origin:
                self.origins.setdefault(r.origin, r.id)

    def canonical(self, article_id: str) -> str:
        """The stored id an article id ended up as (itself, or the article it duplicates)."""
        seen = set()
        while article_id not in self.records and article_id in self.alias and article_id not in seen:
            seen.add(article_id)
            article_id = self.alias[article_id]
        return article_id

    def resolve(self, item: TestItem) -> tuple[set[str], list[str]]:
        """The item's gold article ids and a warning per reference that matches no stored article."""
        from ingest.clean import normalize_url

        gold: set[str] = set()
        missing: list[str] = []
        for aid in item.gold_doc_ids:
            cid = self.canonical(aid)
            gold.add(cid)
            if cid not in self.records:
                missing.append(f"gold_doc_id {aid!r}")
        for url in item.gold_urls:
            norm = normalize_url(url)
            ids = {r.id for r in self.records.values() if r.url and normalize_url(r.url) == norm}
            ids.add(self.canonical("url-" + hashlib.sha1(norm.encode()).hexdigest()[:16]))
            found = ids & set(self.records)
            gold |= found
            if not found:
                missing.append(f"gold_url {url!r}")
        for name in item.gold_files:
            want = PurePosixPath(name.replace("\\", "/")).parts
            found = {self.canonical(aid) for origin, aid in self.origins.items()
                     if aid and PurePosixPath(origin.replace("\\", "/")).parts[-len(want):] == want}
            gold |= found
            if not found & set(self.records):
                missing.append(f"gold_file {name!r}")
        for title in item.gold_titles:
            found = {r.id for r in self.records.values() if r.title.strip().casefold() == title.strip().casefold()}
            gold |= found
            if not found:
                missing.append(f"gold_title {title!r}")
        return gold, missing


# ---- corpus ------------------------------------------------------------------------------------------------------
def corpus_fingerprint(corpus: Path, settings: Settings) -> str:
    """A hash of the corpus files (path, name and content) and the settings that shape what ingest stores.

    Content, not modification times: a corpus copied again unchanged (a fresh checkout, a re-synced data folder)
    reuses its collection instead of being ingested again (45 minutes for MultiHop-RAG's 609 articles here); hashing
    is about 1 s per GB.
    """
    corpus = corpus.resolve()
    files = sorted(p for p in corpus.rglob("*") if p.is_file()) if corpus.is_dir() else [corpus]
    h = hashlib.sha1(str(corpus).encode())
    for p in files:
        h.update(f"{p.relative_to(corpus) if corpus.is_dir() else p.name}|".encode())
        with p.open("rb") as fh:
            h.update(hashlib.file_digest(fh, "sha1").digest())
    h.update(f"{settings.embedding.model}|{settings.ingest.chunk_size}|{settings.ingest.chunk_overlap}".encode())
    return h.hexdigest()


def eval_collection_name(corpus: Path, settings: Settings) -> str:
    """The evaluation collection for a corpus: `eval-<hash of its path, contents and ingest settings>`."""
    return "eval-" + corpus_fingerprint(corpus, settings)[:12]


def ingest_corpus(corpus: Path, settings: Settings, progress: bool) -> dict[str, Any]:
    """Ingest `corpus` into the settings' collection, skipping it when a finished ingest of the same files is recorded.

    Returns:
        {"collection", "reused", "summary", "origins": {origin: article_id}, "failed": [...]}.
    Raises:
        EvalError: when nothing could be stored.
    """
    from articleqa.embed import get_embedder
    from articleqa.store import Store

    marker = settings.resolved_cache_dir() / f"{settings.store.collection}.eval.json"
    fingerprint = corpus_fingerprint(corpus, settings)
    store = Store(settings, get_embedder(settings))
    if marker.is_file() and store.count_passages() > 0:
        try:
            saved = json.loads(marker.read_text())
            if saved.get("fingerprint") == fingerprint:
                return {**saved, "reused": True}
        except (OSError, ValueError):
            pass  # a damaged marker only costs a re-ingest
    if progress:
        from ingest.progress import run_with_progress

        report = run_with_progress(settings, [str(corpus)], quiet=False)
    else:
        from ingest.pipeline import Ingestor

        report = Ingestor(settings, store=store).run([str(corpus)])
    origins = {i.origin: i.article_id for i in report.items if i.article_id}
    failed = [i.line() for i in report.items if i.status == "failed"]
    if not any(i.status in ("added", "updated", "unchanged") for i in report.items):
        raise EvalError(f"nothing from {corpus} could be ingested" + (f": {failed[0]}" if failed else ""))
    info = {"collection": settings.store.collection, "fingerprint": fingerprint, "corpus": str(corpus),
            "summary": report.summary(), "origins": origins, "failed": failed}
    if report.ok:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, marker)  # atomic: a killed run never leaves a marker for a half-ingested corpus
    return {**info, "reused": False}


# ---- the run -----------------------------------------------------------------------------------------------------
def select_items(testset: TestSet, tags: list[str] | None = None, limit: int | None = None) -> list[TestItem]:
    """Items carrying any of `tags` (all when None), at most `limit` of them, in file order."""
    items = [i for i in testset.items if not tags or set(tags) & set(i.tags)]
    return items[:limit] if limit else items


def retrieve_at_depth(asker, request, query: str, depth: int = M.RETRIEVAL_DEPTH) -> list[Passage]:
    """The ranked passages at `depth` for the query the chain used, through `Asker.retrieve` (same date filter).

    Args:
        asker: the shared qa.ask.Asker.
        request: the qa.ask.Request that was asked.
        query: the rewritten query the answer reports.
        depth: passages to return.
    Returns:
        Passages best first.
    """
    return asker.retrieve(request, query, k=depth)[1].passages


def run_eval(
    testset: TestSet,
    settings: Settings,
    mode: str | None = None,
    limit: int | None = None,
    tags: list[str] | None = None,
    reference_date: dt.date | None = None,
    progress: bool = True,
    collection: str | None = None,
) -> EvalReport:
    """Evaluate a test set end to end.

    Args:
        testset: the parsed test set; when it has a `corpus`, that corpus is ingested into a separate collection
            (`collection` or `eval-<hash>`), reused while the files are unchanged, so the user's store is untouched.
            Without a corpus the store/collection in `settings` is evaluated as it is.
        settings: store location, models and answering knobs.
        mode: "extractive" or "llm" (default: settings.answer.mode).
        limit: evaluate only the first N selected items.
        tags: evaluate only items carrying any of these tags.
        reference_date: default date relative phrases count from, for items without their own
            (item > this > the test set header > settings > today).
        progress: draw rich progress bars on stderr.
        collection: the evaluation collection name when a corpus is ingested.
    Returns:
        The computed EvalReport.
    Raises:
        EvalError: nothing to evaluate (no items selected, empty store, corpus failed).
        articleqa.store.StoreError: the store cannot be opened.
    """
    from qa.ask import Asker, Request

    t0 = time.perf_counter()
    items = select_items(testset, tags, limit)
    if not items:
        raise EvalError(f"no items selected from {testset.path}" + (f" with tags {', '.join(tags)}" if tags else ""))
    ingest_info: dict[str, Any] = {}
    if testset.corpus is not None:
        settings = settings.with_overrides(collection=collection or eval_collection_name(testset.corpus, settings))
        ingest_info = ingest_corpus(testset.corpus, settings, progress)
    asker = Asker(settings)
    if not asker.store.count_passages():
        raise EvalError(f"collection {settings.store.collection!r} has no articles: pass --corpus or ingest some first")
    resolver = GoldResolver(asker.store.records(), ingest_info.get("origins"))
    default_ref = reference_date or testset.reference_date
    report = EvalReport(
        testset=str(testset.path), format=testset.format, results=[], ingest=_ingest_summary(ingest_info),
        settings=_settings_summary(settings, mode), created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    warned: set[str] = set()
    with _progress(progress, len(items)) as advance:
        for item in items:
            ref = item.reference_date or default_ref
            gold, missing = resolver.resolve(item)
            for m in missing:
                if m not in warned:
                    warned.add(m)
                    report.warnings.append(f"{item.id}: {m} matches no stored article")
            try:
                request = Request(item.question, history=list(item.history), reference_date=ref, mode=mode)
                answer = asker.ask(request)
                retrieved = retrieve_at_depth(asker, request, answer.rewritten_query or item.question)
                scores = M.score_item(item, answer, retrieved, gold, asker.embedder)
            except Exception as exc:  # one broken item must not lose the run; it is reported as an error
                answer, retrieved = None, []
                scores = M.ItemScores(answerable=item.answerable, refused=False, error=f"{type(exc).__name__}: {exc}")
            report.results.append(ItemResult(item, answer, retrieved, sorted(gold), scores, ref))
            advance(item.id)
    report.seconds = time.perf_counter() - t0
    report.compute()
    return report


def _settings_summary(settings: Settings, mode: str | None) -> dict[str, Any]:
    return {
        "mode": mode or settings.answer.mode,
        "collection": settings.store.collection,
        "store_path": None if settings.store.chroma_url else str(settings.store.path),
        "chroma_url": settings.store.chroma_url,
        "embedding_model": settings.embedding.model,
        "top_k": settings.retrieval.top_k,
        "chunk_size": settings.ingest.chunk_size,
        "refusal_threshold": settings.answer.refusal_threshold,
        "llm_model": settings.llm.model if (mode or settings.answer.mode) == "llm" else None,
    }


def _ingest_summary(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "origins"}


class _progress:
    """A rich progress bar over the items (a no-op when disabled); yields `advance(item_id)`."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total
        self.bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda _id: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("[bold]eval[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[current]}"), console=Console(stderr=True), transient=True,
        )
        self.bar.__enter__()
        task = self.bar.add_task("eval", total=self.total, current="")

        def advance(item_id: str) -> None:
            self.bar.update(task, advance=1, current=item_id)

        return advance

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
