"""Per-run start cost of an ingest on one store: every article record read and an in-memory LSH built (as before the
fingerprint cache) against the fingerprint cache's catch-up (ingest/fingerprints.py).

Example (work on a copy: the cache is written under --cache):

    cp -r /work/stores/mh /tmp/mhc
    python bench/fingerprint_cost.py --store /tmp/mhc --collection eval-9b9bfc1a3602 --cache /tmp/mhc-cache
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from articleqa.embed import get_embedder  # noqa: E402
from articleqa.settings import Settings  # noqa: E402
from articleqa.store import Store  # noqa: E402
from ingest import dedup  # noqa: E402
from ingest.fingerprints import KnownArticles  # noqa: E402


def read_every_record(settings: Settings, store: Store) -> int:
    """What each run's start did before the cache: read every record, build the near-duplicate index."""
    records = {r.id: r for r in store.records().values() if r.hash}
    finder = dedup.DuplicateFinder(settings.ingest.near_duplicate_threshold)
    for r in records.values():
        if r.minhash:
            finder.add(r.id, dedup.decode(r.minhash), r.text_hash)
    return len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="an embedded store folder (a copy)")
    parser.add_argument("--collection", required=True)
    parser.add_argument("--cache", type=Path, required=True, help="cache folder (emptied first)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    shutil.rmtree(args.cache, ignore_errors=True)
    settings = Settings(store_path=args.store, collection=args.collection, cache_dir=args.cache)
    store = Store(settings, get_embedder(settings))
    t = time.perf_counter()
    KnownArticles(settings, store).finish()
    first = time.perf_counter() - t
    old, new = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        n = read_every_record(settings, store)
        old.append(time.perf_counter() - t)
        t = time.perf_counter()
        KnownArticles(settings, store).finish()
        new.append(time.perf_counter() - t)
    print(f"articles {n}; cache built (first run) {first:.3f} s; per-run start (median of {args.repeats}): every "
          f"record + LSH {statistics.median(old):.3f} s, fingerprint cache {statistics.median(new):.4f} s")


if __name__ == "__main__":
    main()
