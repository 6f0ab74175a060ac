"""Calibrate the extractive answerer's refusal threshold on SQuAD 2.0 dev questions.

Two kinds of question should be refused:
- SQuAD 2.0's adversarial unanswerable questions, asked with their own paragraph in the passages
  (written to look answerable by that paragraph: surface signals barely separate them), and
- "missing article": the answerable questions asked WITHOUT their paragraph, over the 5 nearest other passages
  of the corpus (often the same Wikipedia article): what happens when the store lacks the story.
Answerable questions get their gold paragraph's passages plus 3 random other paragraphs, ranked by dense
similarity (real retrieval comes from qa.retrieve). The threshold is chosen for the best balanced accuracy
between answerable and missing-article questions; adversarial refusal is reported alongside.

Run: python bench/calibrate_refusal.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import random
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
from evaluation.metrics import token_f1  # noqa: E402
from ingest.chunk import chunk  # noqa: E402
from qa.extractive import Draft, ExtractiveAnswerer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2-dev"


def build_passages(
    question: dict,
    docs: dict[str, list[Passage]],
    vecs: dict[str, np.ndarray],
    qvec: np.ndarray,
    rng: random.Random,
    k: int,
) -> list[Passage]:
    """Gold paragraph passages plus 3 random other paragraphs, ranked by dense similarity, top k."""
    gold = question["gold_doc_ids"][0]
    others = rng.sample([d for d in docs if d != gold], 3)
    pool = [p for d in [gold, *others] for p in docs[d]]
    pool.sort(key=lambda p: -float(vecs[p.id] @ qvec))
    return pool[:k]


def nearest_without_gold(
    question: dict, passages: list[Passage], matrix: np.ndarray, qvec: np.ndarray, k: int
) -> list[Passage]:
    """The k passages nearest the question that do not come from its gold paragraph."""
    gold = set(question["gold_doc_ids"])
    order = np.argsort(-(matrix @ qvec))
    return [passages[i] for i in order if passages[i].article_id not in gold][:k]


def main() -> None:
    """Run every question once with threshold 0, then sweep thresholds over the recorded evidence scores."""
    from articleqa.settings import offline_environment

    offline_environment()
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
    docs = {d["doc_id"]: chunk(Article(id=d["doc_id"], text=d["text"]), settings.ingest.chunk_size, 1) for d in corpus}
    all_passages = [p for ps in docs.values() for p in ps]
    t0 = time.time()
    pvecs = embedder.encode_passages([p.text for p in all_passages])
    vecs = {p.id: v for p, v in zip(all_passages, pvecs, strict=True)}
    print(f"{len(corpus)} paragraphs -> {len(all_passages)} passages embedded in {time.time() - t0:.1f}s")

    answerer = ExtractiveAnswerer(settings, embedder)
    answerer.run("warm up", all_passages[:2])
    rng = random.Random(args.seed)
    rows: list[tuple[str, dict, Draft]] = []  # kind: "answerable", "adversarial" or "missing"
    latencies: list[float] = []
    for q in questions:
        qvec = embedder.encode_query(q["question"])
        passages = build_passages(q, docs, vecs, qvec, rng, args.top_k)
        t = time.perf_counter()
        draft = answerer.run(q["question"], passages)
        latencies.append(time.perf_counter() - t)
        rows.append(("adversarial" if q["is_impossible"] else "answerable", q, draft))
        if not q["is_impossible"]:
            missing = nearest_without_gold(q, all_passages, pvecs, qvec, args.top_k)
            rows.append(("missing", q, answerer.run(q["question"], missing)))

    count = Counter(kind for kind, _, _ in rows)
    print(f"{count['answerable']} answerable, {count['adversarial']} adversarial unanswerable, "
          f"{count['missing']} missing-article questions; top-{args.top_k} passages each")
    print(f"extractive latency: p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p90 {sorted(latencies)[int(0.9 * len(latencies))] * 1000:.0f} ms (cold sentence cache)")
    print(f"{'threshold':>9} {'false-refuse':>12} {'refuse-missing':>14} {'refuse-adversarial':>18} "
          f"{'bal-acc':>7} {'acc-squad2':>10} {'gold-in-answer':>14} {'short-F1':>8}")
    best: tuple[float, float] | None = None
    for t in [x / 100 for x in range(20, 81, 2)]:
        rate = {k: sum(d.refused or d.score < t for kind, _, d in rows if kind == k) / max(1, count[k]) for k in count}
        bal = (1 - rate["answerable"] + rate["missing"]) / 2
        squad = (count["answerable"] * (1 - rate["answerable"]) + count["adversarial"] * rate["adversarial"]) / max(
            1, count["answerable"] + count["adversarial"]
        )
        answered = [(q, d) for kind, q, d in rows if kind == "answerable" and not (d.refused or d.score < t)]
        texts = [(q, " ".join(s for s, _ in d.sentences).lower()) for q, d in answered]
        hit = sum(any(a.lower() in text for a in q["answers"]) for q, text in texts)
        f1 = sum(token_f1(d.short_answer, q["answers"]) for q, d in answered)
        print(f"{t:>9.2f} {rate['answerable']:>12.3f} {rate['missing']:>14.3f} {rate['adversarial']:>18.3f} "
              f"{bal:>7.3f} {squad:>10.3f} {hit / max(1, len(answered)):>14.3f} {f1 / max(1, len(answered)):>8.3f}")
        if best is None or bal > best[1]:
            best = (t, bal)
    print(f"best balanced accuracy (answerable vs missing article) {best[1]:.3f} at threshold {best[0]:.2f}")


if __name__ == "__main__":
    main()
