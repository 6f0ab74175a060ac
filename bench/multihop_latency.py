"""Latency of multi-article questions: p50/p95 per question (whole `ask`, and per stage) on multihop-rag-dev.

Each question is asked once through `Asker.ask` in one warm process (three warm-up questions first, not counted), so
a question pays for what a user's new question pays for (its own sentences embedded, its passages NER'd) while the
models are loaded. --profile writes a cProfile of the timed loop and prints the costliest functions.

Example (store and halves as in bench/README.md; ~2 min on 2 quiet cores):

    python bench/multihop_latency.py --store bench/out/multihop-corpus                  # 80 questions of half B
    python bench/multihop_latency.py --store bench/out/multihop-corpus --profile bench/out/mh.prof --limit 40
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0-1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    return v[lo] + (v[min(lo + 1, len(v) - 1)] - v[lo]) * (pos - lo)


def stratified(items: list, limit: int) -> list:
    """Up to `limit` items, the same share of every question type, in file order within a type."""
    by: dict[str, list] = defaultdict(list)
    for it in items:
        by[next((t for t in it.tags if t != "multihop"), "")].append(it)
    share = limit / max(len(items), 1)
    return [it for group in by.values() for it in group[: max(1, round(len(group) * share))]]


def main() -> None:
    from articleqa.settings import Settings, offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="Store holding the ingested MultiHop-RAG corpus.")
    parser.add_argument("--questions", type=Path, default=Path("bench/out/multihop-dev-b.jsonl"))
    parser.add_argument("--limit", type=int, default=80, help="Questions timed (stratified by type).")
    parser.add_argument("--profile", type=Path, help="Write a cProfile of the timed questions here.")
    args = parser.parse_args()

    from evaluation.runner import eval_collection_name
    from evaluation.testset import load_testset
    from qa.ask import Asker, Request

    testset = load_testset(args.questions)
    settings = Settings().with_overrides(store_path=args.store,
                                         collection=eval_collection_name(testset.corpus, Settings()))
    asker = Asker(settings)
    items = stratified(testset.items, args.limit)
    for it in testset.items[-3:]:  # warm-up: models, indexes, caches of the process (not of the timed questions)
        asker.ask(Request(it.question))
    totals: dict[str, list[float]] = defaultdict(list)
    stages: dict[str, list[float]] = defaultdict(list)
    prof = cProfile.Profile() if args.profile else None
    for it in items:
        if prof:
            prof.enable()
        t = time.perf_counter()
        answer = asker.ask(Request(it.question))
        took = time.perf_counter() - t
        if prof:
            prof.disable()
        kind = next((t for t in it.tags if t != "multihop"), "")
        totals[kind].append(took)
        totals["all"].append(took)
        for k, v in answer.timings.items():
            stages[k].append(v)
    print(f"{len(items)} questions from {args.questions.name}, one warm process")
    print("| type | n | p50 s | p95 s | max s |\n|---|---|---|---|---|")
    for k in sorted(totals, key=lambda k: (k == "all", k)):
        v = totals[k]
        print(f"| {k} | {len(v)} | {percentile(v, 0.5):.3f} | {percentile(v, 0.95):.3f} | {max(v):.3f} |")
    print("stage p50/p95 s: " + ", ".join(f"{k} {percentile(v, 0.5):.3f}/{percentile(v, 0.95):.3f}"
                                           for k, v in stages.items()))
    if prof:
        prof.dump_stats(str(args.profile))
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
