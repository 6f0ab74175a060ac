"""When should an answer add a second supporting sentence? Measures candidate policies on the shared dev sets.

Replays the retrieval cache of `bench/fit_reader.py` (<store>/fit_reader.pkl; made on its first run) through the
extractive scorer, and for each policy reports, per set: how many answers get a second sentence, whole-answer
contains-gold (best sentence or the added one), mean words of the supporting sentences, and how many added sentences
come from a passage that neither holds a gold answer nor belongs to the gold article (citation precision falls).

Policies: the `margin` setting (the second sentence by fit must be within the margin of the best one) over a grid,
and a learned one (logistic regression on sentence features: fit, gap to the best, dense and lexical scores, similarity
to the best sentence, passage rank, the span reader's top probability in it and in the best) that adds the likeliest of
the next four sentences when its probability clears a threshold, scored by 2-fold cross-validation split by gold
article (fit on one half, measured on the other).

Example:

    python bench/fit_reader.py --store S --dry-run     # once, if S has no fit_reader.pkl yet
    python bench/support_policy.py --store S
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402

from articleqa.models import Passage  # noqa: E402
from articleqa.settings import Settings  # noqa: E402
from evaluation.metrics import contains_answer  # noqa: E402

SETS = ("realtimeqa-dev", "squad2-dev")
NEXT = 4  # candidates after the best sentence that the learned policy may pick from
MARGINS = (0.0, 0.05, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25, 0.30, 1.0)
THRESHOLDS = (0.2, 0.3, 0.4, 0.5)


def sentences(rows: list[dict]) -> list[dict]:
    """Per answered question: the best sentence and the next non-duplicate ones by fit, with what the policies read."""
    from articleqa.embed import get_embedder
    from qa.extractive import ExtractiveAnswerer

    settings = Settings()
    ext = ExtractiveAnswerer(settings, get_embedder(settings))
    return [rec for r in rows if (rec := _question(ext, settings, r)) is not None]


def _question(ext, settings: Settings, r: dict) -> dict | None:
    from qa.cite import encode_cached
    from qa.extractive import _near_duplicate

    passages = [Passage(**p) for p in r["passages"]]
    q, ranked = ext.rank(r["query"], passages)
    ok = [c for c in ranked if c.type_ok]
    if not ok or round(ok[0].fit, 4) < settings.answer.refusal_threshold:
        return None  # refused: no policy applies
    best = ok[0]
    nxt = [c for c in sorted(ok[1:], key=lambda c: -c.fit) if not _near_duplicate(c, best)][:NEXT]
    vecs = encode_cached(ext.embedder, [best.text] + [c.text for c in nxt])
    views = {(v.text, v.passage): v for v in ext.evidence(q, ranked, passages)}
    info = [_sentence(ext, q, views, passages, r, c, float(vecs[0] @ vecs[j])) for j, c in enumerate([best, *nxt])]
    return {"set": r["set"], "answers": r["answers"], "group": r["group"], "best": info[0], "next": info[1:]}


def _sentence(ext, q, views: dict, passages: list[Passage], r: dict, c, sim_best: float) -> dict:
    from qa.extractive import EXPECTED, PERSON_NOUNS, _stem_one

    v = views.get((c.text, c.passage))
    read = ext.reader.run(q.text, q.kind, q.stems, q.words, [v], _stem_one, EXPECTED, PERSON_NOUNS) if v else None
    p = passages[c.passage]
    return {"fit": c.fit, "cos": c.cos, "lex": c.lex, "passage": c.passage, "sim_best": sim_best,
            "words": len(c.text.split()), "span": read.ranked[0][0] if read and read.ranked else 0.0,
            "gold_passage": p.article_id == r["group"] or bool(contains_answer(p.text, r["answers"])),
            "contains": bool(r["answers"]) and bool(contains_answer(c.text, r["answers"]))}


def features(r: dict, c: dict) -> list[float]:
    b = r["best"]
    return [c["fit"], b["fit"] - c["fit"], c["fit"] / b["fit"], c["cos"], c["lex"], c["sim_best"],
            float(c["passage"] == b["passage"]), 1.0 / (1.0 + 0.5 * c["passage"]), c["span"], b["span"],
            c["words"] / 30.0, b["fit"], b["lex"], b["cos"]]


def fit_policy(train: list[dict], c: float = 1.0):
    """Logistic regression: does a next sentence hold a gold answer? Returns row -> probabilities of its next ones."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    xs = [features(r, n) for r in train if r["answers"] for n in r["next"]]
    ys = [n["contains"] for r in train if r["answers"] for n in r["next"]]
    scaler = StandardScaler().fit(xs)
    model = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(xs), ys)
    return lambda r: model.predict_proba(scaler.transform([features(r, n) for n in r["next"]]))[:, 1]


def by_margin(m: float, floor: float):
    return lambda r: 0 if r["next"] and r["next"][0]["fit"] >= max(floor, r["best"]["fit"] - m) else None


def by_probability(model, t: float):
    def pick(r: dict) -> int | None:
        if not r["next"]:
            return None
        p = model(r)
        j = int(np.argmax(p))
        return j if p[j] >= t else None
    return pick


def measure(rows: list[dict], pick) -> dict[str, str]:
    """Per set: 'added / answered, contains k of n, words w, non-gold added a'."""
    out = {}
    for s in SETS:
        part = [r for r in rows if r["set"] == s]
        added = contains = bad = 0
        words = []
        for r in part:
            j = pick(r)
            extra = r["next"][j] if j is not None else None
            words.append(r["best"]["words"] + (extra["words"] if extra else 0))
            added += extra is not None
            bad += bool(extra) and r["answers"] != [] and not extra["gold_passage"]
            if r["answers"]:
                contains += r["best"]["contains"] or bool(extra and extra["contains"])
        n = sum(1 for r in part if r["answers"])
        out[s] = f"{added}/{len(part)} added, contains {contains}/{n}, words {np.mean(words):.1f}, non-gold {bad}"
    return out


def fold(r: dict) -> int:
    return int(hashlib.sha1(r["group"].encode()).hexdigest(), 16) % 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="Store whose fit_reader.pkl holds the retrievals.")
    args = ap.parse_args()
    cache = args.store / "fit_reader.pkl"
    if not cache.is_file():
        sys.exit(f"{cache}: no retrieval cache; run `python bench/fit_reader.py --store {args.store} --dry-run` first")
    rows = sentences(pickle.loads(cache.read_bytes()))
    floor = Settings().answer.refusal_threshold
    print(f"answered (not refused) questions: {len(rows)}")
    for m in MARGINS:
        print(f"margin {m:.2f}:", measure(rows, by_margin(m, floor)))
    for f in (0, 1):
        train, test = [r for r in rows if fold(r) != f], [r for r in rows if fold(r) == f]
        model = fit_policy(train)
        print(f"fold {f} held out, margin 0.12:", measure(test, by_margin(0.12, floor)))
        for t in THRESHOLDS:
            print(f"fold {f} held out, learned p >= {t}:", measure(test, by_probability(model, t)))


if __name__ == "__main__":
    main()
