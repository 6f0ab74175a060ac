"""Fit the multi-article yes/no verdict (qa/verdict_weights.json) on one half of multihop-rag-dev, report the other.

Each question is planned and retrieved once through the chain's own `Asker.prepare` (cached in --cache); the
verdict features come from the runtime code (`qa.verdict.verdict_features`), so what is fitted is what runs. The
report gives, per question type, the verdict's accuracy on the yes/no questions beside the always-"Yes" and
always-"No" baselines, on the development half (fitted there) and the held-out half. scikit-learn is used here only
(`pip install -e ".[fit]"`); the weights are plain numbers scored with numpy at runtime.

Example (halves from bench/multihop_split.py, store from the MultiHop-RAG ingest in bench/README.md):

    python bench/fit_verdict.py --store bench/out/multihop-corpus                 # collect, fit on A, report A and B
    python bench/fit_verdict.py --store bench/out/multihop-corpus --dry-run       # report only, keep the weights
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402

from articleqa.settings import Settings  # noqa: E402

YES = {"yes", "true"}
NO = {"no", "false"}


def collect(store: Path, halves: list[Path]) -> list[dict]:
    """Plan and retrieve every question of both halves exactly as `ask` does (one pass, slow)."""
    from evaluation.runner import eval_collection_name
    from evaluation.testset import load_testset
    from qa.ask import Asker, Request

    rows: list[dict] = []
    asker = None
    for half in halves:
        testset = load_testset(half)
        if asker is None:
            settings = Settings().with_overrides(store_path=store,
                                                 collection=eval_collection_name(testset.corpus, Settings()))
            asker = Asker(settings)
        for n, item in enumerate(testset.items):
            turn = asker.prepare(Request(item.question))
            rows.append({"half": half.stem[-1], "id": item.id, "question": item.question,
                         "answers": list(item.answers), "type": next((t for t in item.tags if t != "multihop"), ""),
                         "plan": turn.plan, "groups": turn.groups, "passages": turn.passages})
            if n % 50 == 0:
                print(f"  {half.name}: {n}/{len(testset.items)}", file=sys.stderr, flush=True)
    return rows


def label(answers: list[str]) -> int | None:
    """1 for a "Yes" gold answer, 0 for "No", None for anything else (an entity, "Consistent", ...)."""
    a = (answers[0] if answers else "").strip().casefold()
    return 1 if a in YES else 0 if a in NO else None


def featurize(rows: list[dict]) -> list[dict]:
    """Verdict features of every yes/no question the planner sends to the verdict (runtime code)."""
    from articleqa.embed import get_embedder
    from qa.multihop import MultiHopAnswerer, PlanRetrieval
    from qa.verdict import verdict_features

    answerer = MultiHopAnswerer(get_embedder(Settings()))
    out = []
    for r in rows:
        plan = r["plan"]
        y = label(r["answers"])
        if (plan is None or not plan.multi_article or plan.answer_kind != "yes_no" or y is None
                or plan.unknown_sources or not plan.steps):
            continue  # not a verdict, or refused before one (a publication with no stored article)
        evidence = answerer.evidence(plan, PlanRetrieval(r["passages"], r["groups"]))
        if any(e.passage is None for e in evidence):
            continue  # refused: no article for a step; the verdict is never reached
        feats = verdict_features(plan, evidence, r["groups"], answerer.embedder)
        out.append({"half": r["half"], "id": r["id"], "type": r["type"], "y": y, "x": feats})
    return out


def report(rows: list[dict], predict) -> list[str]:
    """Accuracy of the verdict and of both constant answers per half and type, as markdown table lines."""
    lines = ["| half | type | yes/no questions | verdict | always Yes | always No |", "|---|---|---|---|---|---|"]
    for half in sorted({r["half"] for r in rows}):
        for kind in sorted({r["type"] for r in rows}) + ["all"]:
            sub = [r for r in rows if r["half"] == half and (kind == "all" or r["type"] == kind)]
            if not sub:
                continue
            ok = sum(int(predict(r["x"]) == r["y"]) for r in sub)
            yes = sum(r["y"] for r in sub)
            lines.append(f"| {half} | {kind} | {len(sub)} | {ok / len(sub):.3f} | {yes / len(sub):.3f} | "
                         f"{1 - yes / len(sub):.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="Store holding the ingested MultiHop-RAG corpus.")
    parser.add_argument("--halves", type=Path, nargs=2, default=[Path("bench/out/multihop-dev-a.jsonl"),
                                                                 Path("bench/out/multihop-dev-b.jsonl")],
                        help="Development half (fitted) and held-out half (reported).")
    parser.add_argument("--cache", type=Path, default=Path("bench/out/verdict-retrieval.pkl"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "qa" /
                        "verdict_weights.json")
    parser.add_argument("--c", type=float, default=0.03, help="Inverse L2 strength of the logistic regression (0.03: "
                        "best 5-fold cross-validated accuracy on half A among 0.01-1).")
    parser.add_argument("--all-features", action="store_true",
                        help="Fit every computed feature, not only qa.verdict.FITTED.")
    parser.add_argument("--reuse-features", action="store_true", help="Reuse bench/out/verdict-features.pkl.")
    parser.add_argument("--dry-run", action="store_true", help="Report with the current weights; write nothing.")
    args = parser.parse_args()

    if args.cache.exists():
        rows = pickle.loads(args.cache.read_bytes())
    else:
        rows = collect(args.store, args.halves)
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        args.cache.write_bytes(pickle.dumps(rows))
    features = args.cache.with_name("verdict-features.pkl")
    if args.reuse_features and features.exists():
        data = pickle.loads(features.read_bytes())
    else:
        data = featurize(rows)
        features.write_bytes(pickle.dumps(data))
    dev = args.halves[0].stem[-1]
    print(f"yes/no questions reaching the verdict: {Counter((r['half'], r['type']) for r in data)}")

    from qa.verdict import VerdictModel

    if args.dry_run:
        model = VerdictModel.load(args.out)
    else:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score

        from qa.verdict import FITTED

        names = sorted({k for r in data for k in r["x"]}) if args.all_features else list(FITTED)
        train = [r for r in data if r["half"] == dev]
        x = np.array([[r["x"].get(k, 0.0) for k in names] for r in train])
        mean, scale = x.mean(0), x.std(0) + 1e-6
        y = [r["y"] for r in train]
        cv = cross_val_score(LogisticRegression(C=args.c, max_iter=3000), (x - mean) / scale, y, cv=5).mean()
        print(f"5-fold cross-validated accuracy on half {dev}: {cv:.3f}")
        clf = LogisticRegression(C=args.c, max_iter=3000).fit((x - mean) / scale, y)
        w = clf.coef_[0] / scale
        model = VerdictModel(dict(zip(names, (round(float(v), 5) for v in w), strict=True)),
                             round(float(clf.intercept_[0] - (w * mean).sum()), 5))
        model.save(args.out, note=f"fitted by bench/fit_verdict.py on {args.halves[0].name} ({len(train)} yes/no "
                                  f"questions), C={args.c}")
        print(f"wrote {args.out}")
        for k, v in sorted(model.weights.items(), key=lambda kv: -abs(kv[1]) * float(np.std(
                [r["x"].get(kv[0], 0.0) for r in train]))):
            print(f"  {k:28s} {v:+.3f}")
    from qa.multihop import NOT_SAID

    def verdict(f: dict[str, float]) -> int:  # as qa.multihop decides: the support floor first, then the model
        return int(f["asks_change"] > 0) if f["min_support"] < NOT_SAID else int(model.probability(f) >= 0.5)

    print("\n".join(report(data, verdict)))
    print(json.dumps({"dev": dev, "n": len(data)}))


if __name__ == "__main__":
    main()
