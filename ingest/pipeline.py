"""The ingest run: load -> clean -> deduplicate -> chunk -> embed (batched across articles) -> store, with a report."""

from __future__ import annotations

import faulthandler
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from articleqa.embed import Embedder, get_embedder
from articleqa.limits import BudgetExceeded, budget
from articleqa.models import Article, Passage
from articleqa.priority import PriorityThread
from articleqa.rwlock import StoreWriting, writing
from articleqa.safe_text import scrub_surrogates
from articleqa.settings import Settings
from articleqa.store import (
    ArticleRecord,
    ArticleWrite,
    EmbeddingError,
    Store,
    StoreError,
    disk_problem,
    one_line,
)
from articleqa.text import words
from ingest import dedup
from ingest.chunk import chunk, content_hash, embedding_text
from ingest.fingerprints import KnownArticles

log = logging.getLogger(__name__)

STATUSES = ("added", "updated", "unchanged", "duplicate", "failed")


@dataclass
class ItemResult:
    """What happened to one input (one article, or one input that failed)."""

    origin: str
    status: str  # one of STATUSES
    article_id: str = ""
    title: str = ""
    passages: int = 0
    reason: str = ""  # why it failed, or which article it duplicates
    parent: str = ""  # the file or feed a record or entry came from ("" for a whole input)
    count: int = 1  # how many inputs this line stands for (a "N more failed" line stands for N)

    def line(self) -> str:
        if self.status == "failed":
            return f"error: {self.origin}: {self.reason}"
        extra = f" ({self.reason})" if self.reason else ""
        return f"{self.status}: {self.origin} -> {self.article_id}{extra}"


@dataclass
class IngestReport:
    """The outcome of one run; `ok` is False when any input failed."""

    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    passages_embedded: int = 0
    # Each time this run locked the store (opening it, repairing, each write batch): how long it waited for questions
    # to finish reading, and how long it held it (what a question arriving meanwhile waits for); bench/concurrency.py
    # reports them.
    lock_waits: list[float] = field(default_factory=list)
    lock_holds: list[float] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # articles a killed earlier run left half-written
    setup_seconds: float = 0.0  # before the first input: repair, model check, fingerprint-cache catch-up

    def counts(self) -> dict[str, int]:
        return {s: sum(i.count for i in self.items if i.status == s) for s in STATUSES}

    @property
    def ok(self) -> bool:
        return not any(i.status == "failed" for i in self.items)

    def summary(self) -> str:
        c = self.counts()
        rate = self.passages_embedded / self.seconds if self.seconds else 0.0
        return (
            f"{c['added']} added, {c['updated']} updated, {c['unchanged']} unchanged, {c['duplicate']} duplicate, "
            f"{c['failed']} failed; {self.passages_embedded} passages embedded in {self.seconds:.1f} s ({rate:.1f}/s)"
        )

    def to_dict(self) -> dict[str, Any]:
        data = {"counts": self.counts(), "ok": self.ok, **asdict(self)}
        # A file name that is not UTF-8 carries lone surrogates: strict JSON readers reject them.
        for item in data["items"]:
            for key in ("origin", "title", "reason", "parent"):
                item[key] = scrub_surrogates(item[key])
        return data


T = TypeVar("T")


def _import_chromadb() -> None:
    import chromadb  # noqa: F401


ProgressFn = Callable[[ItemResult, int], None]  # (result of the item just finished, passages embedded so far)


@dataclass
class _Pending:
    article: Article
    passages: list[Passage]
    digest: str
    text_hash: str
    minhash: str
    previous: ArticleRecord | None


class Ingestor:
    """Runs ingest against one store. Re-running on unchanged input embeds nothing."""

    def __init__(self, settings: Settings, store: Store | None = None, embedder: Embedder | None = None,
                 writer: PriorityThread | None = None):
        """`writer`: a thread at normal priority for the store writes of an ingest that runs at a low one."""
        self.settings = settings
        self.writer = writer
        self.embedder = embedder or get_embedder(settings)
        self._lock_times: list[tuple[float, float]] = []  # (wait, hold) of each store lock, for IngestReport
        self._stuck_file: Any = None  # see _stuck_log
        if store is None:
            # chromadb's import takes seconds on a busy machine: not while questions wait for the lock. Opening may
            # create the collections (a write), and on the writer thread Chroma's own threads start at its priority.
            self._unlocked(_import_chromadb)
            store = self._locked(Store, settings, self.embedder)
        self.store = store
        # passages per embedding call: large batches amortise
        self.flush_at = max(settings.embedding.batch_size * 8, 64)
        self._store_down = ""  # set once a server stayed unreachable through every retry
        self._failures: dict[str, int] = {}  # failed records per file or feed in the current run
        self._known: KnownArticles | None = None  # the run's view of the stored articles (ingest/fingerprints.py)

    def run(self, inputs: list[str], on_item: ProgressFn | None = None) -> IngestReport:
        """Ingest every input; bad inputs are reported and skipped, never fatal.

        Args:
            inputs: file paths, folders, URLs or feed URLs.
            on_item: called after each input is settled (for progress bars and logs).
        Returns:
            The run's report.
        """
        from articleqa.lock import store_lock

        # Re-entrant: the chat (which holds the lock for its lifetime) and the CLI (which takes it first) pass through.
        self._failures = {}
        with store_lock(self.settings, "an ingest"):
            self._known = None
            try:
                report = self._run(inputs, on_item)
            finally:
                self._finish_known()
        max_bad = self.settings.limits.max_bad_lines
        for parent, n in self._failures.items():
            if n > max_bad:
                report.items.append(ItemResult(parent, "failed", reason=f"{n - max_bad:,} more records failed (not "
                                               f"shown; max_bad_lines {max_bad})", count=n - max_bad))
                if on_item:
                    on_item(report.items[-1], report.passages_embedded)
        return report

    def _finish_known(self) -> None:
        # The fingerprint cache learns this run's writes now, so the next run's start costs nothing for them. A
        # failure here costs nothing either: the next run catches up from the change log.
        known, self._known = self._known, None
        if known is not None:
            try:
                known.finish()
            except Exception as exc:  # noqa: BLE001 - never mask the run's outcome
                log.info("fingerprint cache not caught up after the run: %s", one_line(exc))

    def _run(self, inputs: list[str], on_item: ProgressFn | None) -> IngestReport:
        from ingest.clean import CleanError, article_id, clean
        from ingest.load import LoadError, load_inputs

        t0 = time.perf_counter()
        report = IngestReport(repaired=self._locked(self.store.recover))  # readers never see a half-repaired store
        self.store.check_embedding()  # another model's collection: refuse before embedding anything
        # After recover(): it logged what it repaired, so the cache re-reads those articles in their final state.
        # Read without the data lock: this run holds the store's one writer lock (run), so nothing else writes it.
        known = self._known = KnownArticles(self.settings, self.store)
        report.setup_seconds = time.perf_counter() - t0
        queue: list[_Pending] = []
        seen_ids: set[str] = set()
        parents: dict[str, str] = {}  # article id -> the file or feed it came from
        failures = self._failures
        max_bad = self.settings.limits.max_bad_lines

        def settle(result: ItemResult) -> None:
            result.parent = result.parent or parents.get(result.article_id, "")
            if result.status == "failed" and result.parent:
                # A file of 100,000 records that all fail is one problem: its first max_bad_lines, then one count
                # (added by `run`, once every write has reported).
                failures[result.parent] = failures.get(result.parent, 0) + 1
                if failures[result.parent] > max_bad:
                    return
            report.items.append(result)
            if on_item:
                on_item(result, report.passages_embedded)

        for item in load_inputs(inputs, self.settings):
            if isinstance(item, LoadError):
                settle(ItemResult(item.origin, "failed", reason=item.reason))
                continue
            prepared = self._prepare(item, clean, article_id, CleanError)
            if isinstance(prepared, ItemResult):
                prepared.parent = item.parent
                settle(prepared)
                continue
            article, passages = prepared
            if item.parent:
                parents[article.id] = item.parent
            digest = content_hash(article)[:12]
            if article.id in seen_ids:
                settle(
                    ItemResult(
                        item.origin, "duplicate", article.id, article.title, reason="same id given twice in this run"
                    )
                )
                continue
            seen_ids.add(article.id)
            same = known.unchanged(article.id, digest)
            if same is not None:
                settle(ItemResult(item.origin, "unchanged", article.id, article.title, same.passages))
                continue
            text_hash = hashlib.sha1(" ".join(words(article.text)).encode()).hexdigest()
            sig = dedup.signature(article.text)
            dup = known.find(article.id, sig, text_hash)
            if dup is not None:
                kept, sim = dup
                self._alias(kept, article.id, queue)
                settle(
                    ItemResult(
                        item.origin,
                        "duplicate",
                        article.id,
                        article.title,
                        reason=f"duplicate of {kept} (similarity {sim:.2f})",
                    )
                )
                continue
            if not passages:
                settle(ItemResult(item.origin, "failed", article.id, article.title, reason="no text left to store"))
                continue
            known.add(article.id, sig, text_hash)
            previous = self.store.record(article.id)  # read by id: the record's aliases carry over to the new one
            previous = previous if previous is not None and previous.hash else None
            queue.append(_Pending(article, passages, digest, text_hash, dedup.encode(sig), previous))
            if sum(len(p.passages) for p in queue) >= self.flush_at:
                self._flush(queue, report, settle)
                queue = []
        self._flush(queue, report, settle)
        report.seconds = time.perf_counter() - t0
        report.lock_waits = [w for w, _ in self._lock_times]
        report.lock_holds = [h for _, h in self._lock_times]
        return report

    def _locked(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` holding the store lock, on the writer thread when there is one: every lock questions wait for
        is taken, held and given back at normal priority, never by the ingest's lowered main thread."""

        def locked() -> T:
            asked = time.perf_counter()
            with writing(self.settings):
                got = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    self._lock_times.append((got - asked, time.perf_counter() - got))

        return self._unlocked(locked)

    def _unlocked(self, fn: Callable[[], T]) -> T:
        """`fn()` on the writer thread when there is one, ending the process if it outlives store_write_timeout.

        Why so blunt: Chroma's Rust core keeps Python's lock while it hangs (seen on a full disk), so no timeout in
        Python could fire; faulthandler's own C thread ends the process (exit 1), every thread's stack in
        <cache>/stuck-write.log. The next run's recover() repairs what the write left pending, as after a kill.
        """
        if self.writer is None:
            return fn()
        faulthandler.dump_traceback_later(self.settings.store.write_timeout, exit=True, file=self._stuck_log())
        try:
            return self.writer.call(fn)
        finally:
            faulthandler.cancel_dump_traceback_later()

    def _stuck_log(self) -> Any:
        """The file faulthandler writes to if a store write hangs (kept open: it is written from C at that moment)."""
        if self._stuck_file is None:
            try:
                folder = self.settings.resolved_cache_dir()
                folder.mkdir(parents=True, exist_ok=True)
                self._stuck_file = open(folder / "stuck-write.log", "a")  # noqa: SIM115 - lives with the Ingestor
            except OSError:
                self._stuck_file = open(os.devnull, "w")  # noqa: SIM115
        return self._stuck_file

    def _prepare(self, item, clean, article_id, clean_error) -> tuple[Article, list[Passage]] | ItemResult:
        """Clean and chunk one loaded document under the input budget; any failure is this item's alone."""
        s = self.settings
        try:
            budget_s = s.limits.input_budget
            with budget(budget_s, f"took longer than input_budget {budget_s:g} s"):
                article = clean(item, s)
                article.id = article.id or article_id(item, article)
                article.origin = article.origin or item.origin
                return article, chunk(article, s.ingest.chunk_size, s.ingest.chunk_overlap, s.limits.max_passage_chars)
        except (clean_error, BudgetExceeded) as exc:
            return ItemResult(item.origin, "failed", reason=str(exc))
        except Exception as exc:  # a cleaner bug must not lose the rest of the run
            return ItemResult(item.origin, "failed", reason=f"could not clean: {type(exc).__name__}: {one_line(exc)}")

    def _alias(self, kept: str, alias: str, queue: list[_Pending]) -> None:
        # The kept article may still be waiting in this run's queue: its record does not exist yet.
        for p in queue:
            if p.article.id == kept:
                p.previous = p.previous or ArticleRecord(id=kept)
                if alias not in p.previous.aliases:
                    p.previous.aliases.append(alias)
                return
        self._locked(self.store.add_alias, kept, alias)

    def _flush(self, queue: list[_Pending], report: IngestReport, settle: Callable[[ItemResult], None]) -> None:
        if not queue:
            return
        if self._store_down:
            # Server gone after every retry, disk full or read-only: fail the rest at once, not article by article.
            for item in queue:
                settle(
                    ItemResult(
                        item.article.origin, "failed", item.article.id, item.article.title, reason=self._store_down
                    )
                )
            return
        texts = [embedding_text(p) for item in queue for p in item.passages]
        t = time.perf_counter()
        vectors = self.embedder.encode_passages(texts)  # outside the store lock: questions go on meanwhile
        report.embed_seconds += time.perf_counter() - t
        settled: list[ItemResult] = []  # progress is shown after the lock is given back, not while questions wait
        try:
            self._locked(self._write, queue, vectors, report, settled.append)
        except StoreWriting as exc:  # a stuck reader: these articles fail, the next run stores them
            settled = [ItemResult(item.article.origin, "failed", item.article.id, item.article.title,
                                  reason=f"not stored: {exc}") for item in queue]
        finally:
            for result in settled:
                settle(result)

    def _write(self, queue: list[_Pending], vectors, report: IngestReport,
               settle: Callable[[ItemResult], None]) -> None:
        writes = []
        row = 0
        for item in queue:
            n = len(item.passages)
            writes.append(
                ArticleWrite(
                    item.article,
                    item.passages,
                    vectors[row : row + n],
                    item.digest,
                    item.text_hash,
                    item.minhash,
                    item.previous,
                )
            )
            row += n
        whole = False
        try:
            self.store.replace_articles(writes)
            whole = True
            for w in writes:
                self._stored(w, report, settle)
        except EmbeddingError:
            raise  # vectors of another model than the collection's: every article would be refused the same way
        except Exception as exc:
            if self._disk_full():
                # Chroma's delete or upsert on a full disk can hang for ever (holding Python's lock, so no timeout
                # here could answer): no roll-back, no retries. The next run's recover() repairs what was pending.
                self._store_down = f"store write failed: {one_line(exc)}"
                for w in writes:
                    settle(ItemResult(w.article.origin, "failed", w.article.id, w.article.title,
                                      reason=self._store_down))
                return
            # Find out which articles the store refuses (server gone, one bad article): retry them one by one.
            self._roll_back()
            for w in writes:
                self._write_one(w, report, settle)
        try:
            # Is the store still there? After a whole batch its own change-log entry moved the generation already,
            # so a read asks (one write fewer while questions wait for the lock); after the one-by-one path, a bump.
            if whole:
                self.store.change_state()
            else:
                self.store.bump_generation()
        except Exception as exc:  # the server died after the writes: later articles fail at once, the run reports
            self._store_down = f"not stored: {one_line(exc)}"

    def _write_one(self, w: ArticleWrite, report: IngestReport, settle: Callable[[ItemResult], None]) -> None:
        a = w.article
        if self._store_down:
            settle(ItemResult(a.origin, "failed", a.id, a.title, reason=self._store_down))
            return
        try:
            self.store.replace_articles([w])
        except Exception as exc:  # disk full, read-only, server gone: report, keep going
            full = self._disk_full()
            if full or (isinstance(exc, StoreError) and exc.fatal):
                self._store_down = f"not stored: {one_line(exc)}"
            if not full:  # no roll-back on a full disk (see _write): the next run's recover() repairs
                self._roll_back()
            settle(ItemResult(a.origin, "failed", a.id, a.title, reason=f"store write failed: {one_line(exc)}"))
            return
        self._stored(w, report, settle)

    @staticmethod
    def _stored(w: ArticleWrite, report: IngestReport, settle: Callable[[ItemResult], None]) -> None:
        status = "updated" if w.previous is not None and w.previous.hash else "added"
        report.passages_embedded += len(w.passages)
        settle(ItemResult(w.article.origin, status, w.article.id, w.article.title, len(w.passages)))

    def _disk_full(self) -> bool:
        """The embedded store's disk has (almost) no space left: under 1 MiB, or under min_free_mb."""
        if self.settings.store.chroma_url:
            return False
        return disk_problem(self.settings.store.path, max(self.settings.store.min_free_mb, 1.0)) == "full"

    def _roll_back(self) -> None:
        # Leave no half-written article behind when the store still answers; otherwise the next run's recover() does.
        try:
            self.store.recover()
        except Exception:
            pass
