"""Extractive answerer latency on the seed article: median and p95 per question over warm runs (was a timed test).

Run: python bench/extractive_latency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTIONS = ["Who accompanied Kim?", "When did Kim arrive in Beijing?", "Where did Xi and Kim meet?",
             "What did Kim vow to Russia?", "What is the name of Kim's daughter?"]


def main() -> None:
    """Time ExtractiveAnswerer.run on the seed article's first five passages, after one warm-up question."""
    from articleqa.settings import offline_environment

    offline_environment()
    from articleqa.embed import get_embedder
    from articleqa.settings import Settings
    from ingest.chunk import chunk
    from ingest.clean import clean
    from ingest.load import load_inputs
    from qa.extractive import ExtractiveAnswerer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5, help="times each question is asked")
    args = ap.parse_args()
    settings = Settings()
    raw = next(iter(load_inputs([str(REPO / "samples" / "articles" / "xi-kim-beijing-2025-09-04.txt")], settings)))
    passages = chunk(clean(raw), settings.ingest.chunk_size, settings.ingest.chunk_overlap)[:5]
    answerer = ExtractiveAnswerer(settings, get_embedder(settings))
    t = time.perf_counter()
    answerer.run("warm up", passages)
    cold = time.perf_counter() - t
    times = []
    for _ in range(args.rounds):
        for q in QUESTIONS:
            t = time.perf_counter()
            answerer.run(q, passages)
            times.append(time.perf_counter() - t)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"{len(times)} answers over {len(passages)} passages: median {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms (first call, models loading: {cold:.1f} s; target median 150 ms on 2 idle cores)")


if __name__ == "__main__":
    main()
