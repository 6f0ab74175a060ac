"""Latency of the extractive answerer alone (sentence scoring + span reader), on retrievals cached by fit_reader.py.

Cold: each question's sentences are new to the process (embedding and parsing included); warm: asked again.

Example:

    python bench/extract_latency.py --store bench/out/reader-store --limit 40
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from articleqa.embed import get_embedder  # noqa: E402
from articleqa.models import Passage  # noqa: E402
from articleqa.settings import Settings  # noqa: E402
from qa.extractive import ExtractiveAnswerer  # noqa: E402


def _p(values: list[float], q: float) -> float:
    return sorted(values)[max(0, int(q * len(values)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="Folder holding fit_reader.pkl (bench/fit_reader.py).")
    ap.add_argument("--set", default="realtimeqa-dev")
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args()
    rows = [r for r in pickle.loads((args.store / "fit_reader.pkl").read_bytes()) if r["set"] == args.set]
    rows = rows[: args.limit]
    settings = Settings()
    ext = ExtractiveAnswerer(settings, get_embedder(settings))
    questions = [(r["query"], [Passage(**p) for p in r["passages"]]) for r in rows]
    ext.run(*questions[0])  # loads spaCy and the model
    for label in ("cold", "warm"):
        times = []
        for query, passages in questions[1:]:
            t = time.perf_counter()
            ext.run(query, passages)
            times.append(time.perf_counter() - t)
        print(f"{label}: p50 {statistics.median(times):.3f} s, p95 {_p(times, 0.95):.3f} s, n={len(times)}")


if __name__ == "__main__":
    main()
