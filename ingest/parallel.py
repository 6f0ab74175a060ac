"""Parallel ingest: this process loads, cleans, deduplicates and chunks; N workers embed and store, by article id.

Why split there: embedding is nearly all the cost, while deduplication must see every article of the run (a
near-duplicate pair split over two workers would both be stored). Each worker owns the article ids that hash to it
(`shard_of`), so no two processes ever write the same article, and it writes through the one crash-safe write path
(`Store.write`): a worker killed mid-write leaves pending records only for its own articles, which this process
repairs (`Store.recover(ids)`) before starting a fresh worker. A re-run stores whatever a dead worker had in hand.
Workers are plain processes here (`ProcessPool`); `WorkerPool` is what another scheduler (Ray, bench/ray_ingest.py)
provides instead.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import queue as queues
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from articleqa.errors import EmbeddingError, StoreError
from articleqa.settings import Settings
from ingest.pipeline import Ingestor, IngestReport, ItemResult, ProgressFn, _Pending

NEEDS_SERVER = (
    "--workers needs a Chroma server (--chroma-url or ARTICLEQA_CHROMA_URL): an embedded store takes one writer "
    "process at a time; start one with chroma run --path DIR --port 8000, or drop --workers"
)
AHEAD = 2  # batches queued per worker beyond the one it is on: enough to keep it busy, little memory
RESTARTS = 3  # workers started again after dying, per run: past that, a crash is not a one-off


def shard_of(article_id: str, workers: int) -> int:
    """The worker (0..workers-1) that owns `article_id`: a stable hash, the same in every process and run."""
    return int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=8).digest(), "big") % max(1, workers)


@dataclass
class Batch:
    """Articles of one worker to embed and store, as the pipeline prepared them."""

    task: int
    items: list[_Pending]


@dataclass
class BatchDone:
    """What a worker did with one batch."""

    task: int
    results: list[ItemResult] = field(default_factory=list)
    passages: int = 0
    embed_seconds: float = 0.0
    error: str = ""  # set when the batch stopped the run: the embedding server or the store is unusable
    embedding_error: bool = False
    store_down: str = ""  # the worker's store went away after every retry: later batches fail at once


@dataclass
class Lost:
    """A worker that died (killed, out of memory) with these batches unfinished."""

    shard: int
    tasks: list[int]
    reason: str


class WorkerPool(Protocol):
    """Runs batches on workers, one worker per shard; results and deaths come back through `poll`."""

    def start(self) -> None: ...
    def submit(self, shard: int, batch: Batch) -> None: ...
    def outstanding(self, shard: int) -> int: ...
    def poll(self, timeout: float) -> tuple[list[BatchDone], list[Lost]]: ...
    def close(self) -> None: ...


class WorkerIngestor(Ingestor):
    """The worker side: embeds and stores batches; repairs only its own articles when a write fails."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._own: list[str] = []

    def write_batch(self, batch: Batch) -> BatchDone:
        """Embed and store one batch through the crash-safe write; never raises."""
        report, results = IngestReport(), []
        self._own = [p.article.id for p in batch.items]
        done = BatchDone(batch.task, results)
        try:
            self._flush(batch.items, report, results.append)
        except StoreError as exc:  # includes EmbeddingError: nothing of this batch was written
            done.error, done.embedding_error = str(exc), isinstance(exc, EmbeddingError)
        except Exception as exc:  # a bug must cost this batch, not the worker
            done.results = [ItemResult(p.article.origin, "failed", p.article.id, p.article.title,
                                       reason=f"worker error: {type(exc).__name__}: {exc}") for p in batch.items
                            if p.article.id not in {r.article_id for r in results}] + results
        done.passages, done.embed_seconds, done.store_down = report.passages_embedded, report.embed_seconds, \
            self._store_down
        return done

    def _roll_back(self) -> None:
        try:
            self.store.recover(ids=self._own)  # never another worker's in-flight articles
        except Exception:
            pass


def worker_settings(settings: Settings, workers: int) -> Settings:
    """A worker's settings: with the in-process model, the cores are shared out rather than oversubscribed."""
    if settings.embedding.url or settings.embedding.ingest_threads:
        return settings
    return settings.with_overrides(ingest_threads=max(1, (os.cpu_count() or 1) // max(1, workers)))


def worker_main(payload: dict[str, Any], inbox: Any, outbox: Any) -> None:
    """A worker process: take batches from `inbox` until None, put each BatchDone on `outbox`."""
    from articleqa.settings import offline_environment

    offline_environment()
    ingestor = WorkerIngestor(Settings(**payload))
    while (batch := inbox.get()) is not None:
        outbox.put(ingestor.write_batch(batch))


class ProcessPool:
    """One spawned process per shard (spawn, not fork: the parent may hold Chroma and torch threads)."""

    def __init__(self, settings: Settings, workers: int):
        self.workers = workers
        self._payload = worker_settings(settings, workers).model_dump()
        self._ctx = mp.get_context("spawn")
        self._outbox = self._ctx.Queue()
        self._procs: dict[int, Any] = {}
        self._inboxes: dict[int, Any] = {}
        self._tasks: dict[int, set[int]] = defaultdict(set)
        self.restarts = RESTARTS

    def start(self) -> None:
        for shard in range(self.workers):
            self._spawn(shard)

    def _spawn(self, shard: int) -> None:
        inbox = self._ctx.Queue()
        proc = self._ctx.Process(target=worker_main, args=(self._payload, inbox, self._outbox),
                                 name=f"articleqa-ingest-{shard}", daemon=True)
        proc.start()
        self._procs[shard], self._inboxes[shard] = proc, inbox

    def pids(self) -> dict[int, int]:
        return {shard: p.pid for shard, p in self._procs.items()}

    def submit(self, shard: int, batch: Batch) -> None:
        self._tasks[shard].add(batch.task)
        self._inboxes[shard].put(batch)

    def outstanding(self, shard: int) -> int:
        return len(self._tasks[shard])

    def poll(self, timeout: float) -> tuple[list[BatchDone], list[Lost]]:
        done: list[BatchDone] = []
        try:
            done.append(self._outbox.get(timeout=timeout))
            while True:
                done.append(self._outbox.get_nowait())
        except queues.Empty:
            pass
        for d in done:
            for tasks in self._tasks.values():
                tasks.discard(d.task)
        lost = []
        for shard, proc in list(self._procs.items()):
            if proc.exitcode is None:
                continue
            code = proc.exitcode
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            lost.append(Lost(shard, sorted(self._tasks.pop(shard, set())), f"ingest worker {shard} died ({how})"))
            del self._procs[shard]
            self._drop(self._inboxes.pop(shard))
            if self.restarts > 0:  # the rest of its articles still get stored in this run
                self.restarts -= 1
                self._spawn(shard)
        return done, lost

    def alive(self, shard: int) -> bool:
        return shard in self._procs

    def close(self) -> None:
        for shard in self._procs:
            self._inboxes[shard].put(None)
        deadline = time.monotonic() + 30
        for proc in self._procs.values():
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
            if proc.exitcode is None:
                proc.terminate()
                proc.join(timeout=5)
        self._procs.clear()
        for inbox in self._inboxes.values():
            self._drop(inbox)
        self._inboxes.clear()

    @staticmethod
    def _drop(inbox: Any) -> None:
        # Batches nobody will read can fill the pipe, and the queue's feeder thread would then block this process's
        # exit for ever: drop them instead.
        inbox.cancel_join_thread()
        inbox.close()


class ParallelIngestor(Ingestor):
    """`Ingestor` whose embedding and storing run on workers, one per shard of article ids (see the module doc)."""

    def __init__(self, settings: Settings, workers: int, pool: WorkerPool | None = None):
        if not settings.store.chroma_url:
            raise StoreError(NEEDS_SERVER)
        super().__init__(settings)
        self.workers = max(1, workers)
        self.pool: WorkerPool = pool or ProcessPool(settings, self.workers)
        self._inflight: dict[int, tuple[int, list[_Pending]]] = {}  # task -> (shard, items)
        self._aliases: dict[str, list[str]] = defaultdict(list)  # in-flight article -> duplicates seen meanwhile
        self._next = 0
        self._settle: Callable[[ItemResult], None] = lambda r: None
        self._report = IngestReport()
        self._fatal: StoreError | None = None
        self.lost: list[Lost] = []

    def _run(self, inputs: list[str], on_item: ProgressFn | None) -> IngestReport:
        t0 = time.perf_counter()
        self.pool.start()
        try:
            report = super()._run(inputs, on_item)  # loads, dedups and chunks here; `_flush` hands batches out
            while self._inflight:
                self._collect(1.0)
        finally:
            self.pool.close()
        report.seconds = time.perf_counter() - t0
        return report

    def _flush(self, queue: list[_Pending], report: IngestReport, settle: Callable[[ItemResult], None]) -> None:
        self._settle, self._report = settle, report
        if not queue:
            return
        if self._store_down:
            self._fail(queue, self._store_down)
            return
        shards: dict[int, list[_Pending]] = defaultdict(list)
        for item in queue:
            shards[shard_of(item.article.id, self.workers)].append(item)
        for shard, items in sorted(shards.items()):
            while self.pool.outstanding(shard) > AHEAD:
                self._collect(0.5)  # keeps the progress bar moving while this worker catches up
            batch = Batch(self._next, items)
            self._next += 1
            self._inflight[batch.task] = (shard, items)
            self.pool.submit(shard, batch)
        self._collect(0.0)

    def _collect(self, timeout: float) -> None:
        done, lost = self.pool.poll(timeout)
        for d in done:
            self._finish(d)
        for dead in lost:
            self._bury(dead)
        if self._fatal is not None:
            raise self._fatal

    def _finish(self, d: BatchDone) -> None:
        _, items = self._inflight.pop(d.task, (0, []))
        self._report.passages_embedded += d.passages
        self._report.embed_seconds += d.embed_seconds
        if d.store_down:
            self._store_down = d.store_down
        for r in d.results:
            self._settle(r)
            for alias in self._aliases.pop(r.article_id, []) if r.status in ("added", "updated") else []:
                self._alias(r.article_id, alias, [])
        if d.error:
            self._fatal = EmbeddingError(d.error) if d.embedding_error else StoreError(d.error, fatal=True)
            settled = {r.article_id for r in d.results}
            self._fail([p for p in items if p.article.id not in settled], f"not stored: {d.error}")

    def _bury(self, dead: Lost) -> None:
        """A worker died: repair its half-written articles (only it wrote them) and report them as not stored."""
        self.lost.append(dead)
        items = [p for t in dead.tasks for p in self._inflight.pop(t, (0, []))[1]]
        try:
            self.store.recover(ids=[p.article.id for p in items])
        except Exception:
            pass  # the next run's recover() finishes the job
        self._fail(items, f"not stored: {dead.reason}; run ingest again to store it")

    def _fail(self, items: list[_Pending], reason: str) -> None:
        for p in items:
            self._settle(ItemResult(p.article.origin, "failed", p.article.id, p.article.title, reason=reason))

    def _alias(self, kept: str, alias: str, queue: list[_Pending]) -> None:
        # The kept article may be on a worker right now: its record exists only once that worker reports back.
        if any(p.article.id == kept for _, items in self._inflight.values() for p in items):
            self._aliases[kept].append(alias)
            return
        super()._alias(kept, alias, queue)
