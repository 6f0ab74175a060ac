"""Calibrate the extractive answerer's refusal threshold on SQuAD 2.0 dev questions (answerable and not)."""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from articleqa.embed import get_embedder  # noqa: E402
from articleqa.models import Article, Passage  # noqa: E402
from articleqa.settings import Settings  # noqa: E402
from ingest.chunk import chunk  # noqa: E402
from qa.extractive import Draft, ExtractiveAnswerer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2-dev"


def _norm_tokens(text: str) -> list[str]:
    t = re.sub(r"\b(a|an|the)\b", " ", re.sub(r"[^\w\s]", " ", text.lower()))
    return t.split()


def token_f1(pred: str, gold: str) -> float:
    """SQuAD token F1 between a predicted and a gold answer."""
    p, g = _norm_tokens(pred), _norm_tokens(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or not common:
        return float(not p and not g)
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def build_passages(
    question: dict, docs: dict[str, list[Passage]], vecs: dict[str, np.ndarray], qvec: np.ndarray, rng: random.Random, k: int
) -> list[Passage]:
    """Gold paragraph passages plus 3 random other paragraphs, ranked by dense similarity, top k."""
    gold = question["gold_doc_ids"][0]
    others = rng.sample([d for d in docs if d != gold], 3)
    pool = [p for d in [gold, *others] for p in docs[d]]
    pool.sort(key=lambda p: -float(vecs[p.id] @ qvec))
    return pool[:k]


def main() -> None:
    """Run every question once with threshold 0, then sweep thresholds over the recorded evidence scores."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=0, help="Only the first N questions (0 = all).")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()

    questions = [json.loads(line) for line in (args.data / "questions.jsonl").open()]
    if args.limit:
        questions = questions[: args.limit]
    corpus = [json.loads(line) for line in (args.data / "corpus.jsonl").open()]
    settings = Settings(refusal_threshold=0.0)
    embedder = get_embedder(settings)
    docs = {d["doc_id"]: chunk(Article(id=d["doc_id"], text=d["text"]), settings.chunk_size, 1) for d in corpus}
    all_passages = [p for ps in docs.values() for p in ps]
    t0 = time.time()
    pvecs = embedder.encode_passages([p.text for p in all_passages])
    vecs = {p.id: v for p, v in zip(all_passages, pvecs, strict=True)}
    print(f"{len(corpus)} paragraphs -> {len(all_passages)} passages embedded in {time.time() - t0:.1f}s")

    answerer = ExtractiveAnswerer(settings, embedder)
    answerer.run("warm up", all_passages[:2])
    rng = random.Random(args.seed)
    rows: list[tuple[dict, Draft]] = []
    latencies: list[float] = []
    for q in questions:
        passages = build_passages(q, docs, vecs, embedder.encode_query(q["question"]), rng, args.top_k)
        t = time.perf_counter()
        draft = answerer.run(q["question"], passages)
        latencies.append(time.perf_counter() - t)
        rows.append((q, draft))

    n_imp = sum(q["is_impossible"] for q, _ in rows)
    n_ans = len(rows) - n_imp
    print(f"{len(rows)} questions: {n_ans} answerable, {n_imp} unanswerable; top-{args.top_k} passages each")
    print(f"extractive latency: p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p90 {sorted(latencies)[int(0.9 * len(latencies))] * 1000:.0f} ms (cold sentence cache)")
    print(f"{'threshold':>9} {'refuse|unans':>12} {'false-refuse|ans':>16} {'accuracy':>8} "
          f"{'gold-in-answer':>14} {'short-F1':>8}")
    best: tuple[float, float] | None = None
    for t in [x / 100 for x in range(20, 81, 2)]:
        refused = [d.refused or d.score < t for _, d in rows]
        tn = sum(r for (q, _), r in zip(rows, refused, strict=True) if q["is_impossible"])
        fr = sum(r for (q, _), r in zip(rows, refused, strict=True) if not q["is_impossible"])
        acc = (tn + n_ans - fr) / len(rows)
        answered = [(q, d) for (q, d), r in zip(rows, refused, strict=True) if not r and not q["is_impossible"]]
        hit = sum(any(a.lower() in " ".join(s for s, _ in d.sentences).lower() for a in q["answers"]) for q, d in answered)
        f1 = sum(max(token_f1(d.short_answer, a) for a in q["answers"]) for q, d in answered)
        print(f"{t:>9.2f} {tn / n_imp:>12.3f} {fr / n_ans:>16.3f} {acc:>8.3f} "
              f"{hit / max(1, len(answered)):>14.3f} {f1 / max(1, len(answered)):>8.3f}")
        if best is None or acc > best[1]:
            best = (t, acc)
    print(f"best accuracy {best[1]:.3f} at threshold {best[0]:.2f}")


if __name__ == "__main__":
    main()
