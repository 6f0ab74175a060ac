"""Ingest over Ray: this driver loads, deduplicates and chunks; Ray actors, one per shard of article ids, embed and
store into a Chroma server through the same crash-safe write as `articleqa ingest --workers` (ingest/parallel.py).

On one machine `ray.init()` starts a local Ray; on a cluster pass --address (or set RAY_ADDRESS) and make the
inputs, the Chroma server and the embedding server reachable from every node. Needs `pip install 'articleqa[ray]'`.

Example (about a minute for the samples on 2 cores, after Ray's own start of 10-20 s):

    chroma run --path /tmp/chroma --port 8000 &
    articleqa embed-server --port 8081 &
    ARTICLEQA_EMBEDDING_URL=http://127.0.0.1:8081/v1 \
      python bench/ray_ingest.py samples/ --chroma-url http://127.0.0.1:8000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = str(Path(__file__).resolve().parent.parent)
sys.path.insert(0, REPO)

from articleqa.settings import Settings, offline_environment  # noqa: E402
from ingest.parallel import Batch, BatchDone, Lost, ParallelIngestor, WorkerIngestor, worker_settings  # noqa: E402


class _Worker:
    """Body of the Ray actor: one WorkerIngestor (embedder client and Chroma client) for the actor's lifetime."""

    def __init__(self, payload: dict[str, Any]):
        offline_environment()
        self.ingestor = WorkerIngestor(Settings(**payload))

    def write(self, batch: Batch) -> BatchDone:
        return self.ingestor.write_batch(batch)


class RayPool:
    """ingest.parallel.WorkerPool over Ray actors: a dead actor's batches come back as Lost and a new one starts."""

    def __init__(self, settings: Settings, workers: int, cpus_per_worker: float = 1.0):
        import ray

        self.ray = ray
        self.workers = workers
        self.payload = worker_settings(settings, workers).model_dump()
        self.actor = ray.remote(num_cpus=cpus_per_worker)(_Worker)
        self.actors: list[Any] = []
        self.refs: dict[Any, tuple[int, int]] = {}  # object ref -> (shard, task)

    def start(self) -> None:
        self.actors = [self.actor.remote(self.payload) for _ in range(self.workers)]

    def submit(self, shard: int, batch: Batch) -> None:
        self.refs[self.actors[shard].write.remote(batch)] = (shard, batch.task)

    def outstanding(self, shard: int) -> int:
        return sum(1 for s, _ in self.refs.values() if s == shard)

    def poll(self, timeout: float) -> tuple[list[BatchDone], list[Lost]]:
        if not self.refs:
            return [], []
        ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=timeout)
        done, lost = [], []
        for ref in ready:
            shard, task = self.refs.pop(ref)
            try:
                done.append(self.ray.get(ref))
            except self.ray.exceptions.RayError as exc:  # the actor died (killed node, out of memory)
                lost.append(Lost(shard, [task], f"Ray ingest worker {shard} died ({type(exc).__name__})"))
                self.actors[shard] = self.actor.remote(self.payload)
        return done, lost

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="Files, folders, URLs or feeds, as for articleqa ingest.")
    ap.add_argument("--chroma-url", required=True, help="The Chroma server every worker writes to.")
    ap.add_argument("--collection", default=None)
    ap.add_argument("--workers", type=int, default=2, help="Ray actors (one per shard of article ids).")
    ap.add_argument("--cpus-per-worker", type=float, default=1.0, help="Ray CPUs reserved per actor.")
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray).")
    ap.add_argument("--json", action="store_true", help="Print the ingest report as JSON on stdout.")
    args = ap.parse_args(argv)

    import ray

    offline_environment()
    # Ray's local workers inherit this environment: let them import this checkout, as the driver does.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH", "")) if p)
    settings = Settings().with_overrides(chroma_url=args.chroma_url, collection=args.collection)
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False,
             **({} if args.address else {"num_cpus": max(2, int(args.workers * args.cpus_per_worker + 0.999))}))
    try:
        pool = RayPool(settings, args.workers, args.cpus_per_worker)
        report = ParallelIngestor(settings, args.workers, pool=pool).run(args.inputs)
    finally:
        ray.shutdown()
    for item in report.items:
        if item.status == "failed":
            print(item.line(), file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
