"""Retrieval benchmark on RealTimeQA: gold-article Hit@k and MRR@10 for dense, BM25 and our hybrid ranking.

Example:
    articleqa ingest ../shared/data/realtimeqa-dev/corpus.jsonl --store /tmp/rtqa
    python bench/retrieval.py --store /tmp/rtqa --json bench/out/retrieval.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa-dev"


def main() -> None:
    from articleqa.settings import offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="Store holding the ingested corpus.")
    parser.add_argument("--collection", default="articles")
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    args = parser.parse_args()

    from articleqa.settings import Settings
    from qa.ask import Asker, Request
    from qa.retrieve import Filters

    settings = Settings(store_path=args.store, collection=args.collection)
    asker = Asker(settings)
    alias = {a: r.id for r in asker.store.records().values() for a in r.aliases}
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    asker.ask("warm up")

    def ranks(passages, gold: set[str]) -> int | None:
        seen: list[str] = []
        for p in passages:
            if p.article_id not in seen:
                seen.append(p.article_id)
        for i, a in enumerate(seen[:10]):
            if a in gold:
                return i + 1
        return None

    systems = {"dense": [], "bm25": [], "hybrid": [], "hybrid+dates": []}
    answer_in_top4 = {k: [] for k in systems}
    latency = []
    for q in questions:
        gold = {alias.get(g, g) for g in q["gold_doc_ids"]}
        ref = dt.date.fromisoformat(q["question_date"].replace("/", "-"))
        qvec = asker.embedder.encode_query(q["question"])
        dense = asker.store.query(qvec, 40)
        hits = asker.retriever.keywords.search(q["question"], 40)
        bm25 = asker.store.get_passages([h.passage_id for h in hits])
        t = time.perf_counter()
        hybrid = asker.retriever.run(q["question"], Filters(), k=40).passages
        latency.append(time.perf_counter() - t)
        _, retrieval, _ = asker.retrieve(Request(q["question"], reference_date=ref), q["question"], k=40)
        for name, passages in (
            ("dense", dense),
            ("bm25", bm25),
            ("hybrid", hybrid),
            ("hybrid+dates", retrieval.passages),
        ):
            systems[name].append(ranks(passages, gold))
            top4 = " ".join(p.text for p in passages[:4]).lower()
            answer_in_top4[name].append(q["answer"].lower() in top4)

    result = {}
    for name, rs in systems.items():
        n = len(rs)
        result[name] = {
            "hit@1": round(sum(1 for r in rs if r == 1) / n, 3),
            "hit@4": round(sum(1 for r in rs if r and r <= 4) / n, 3),
            "hit@10": round(sum(1 for r in rs if r) / n, 3),
            "mrr@10": round(sum(1 / r for r in rs if r) / n, 3),
            "answer_in_top4_passages": round(sum(answer_in_top4[name]) / n, 3),
        }
    latency.sort()
    result["hybrid_latency_ms"] = {
        "p50": round(statistics.median(latency) * 1000, 1),
        "p95": round(latency[int(0.95 * (len(latency) - 1))] * 1000, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
