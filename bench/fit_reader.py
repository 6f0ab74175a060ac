"""Fit the span reader's weights (qa/reader_weights.json) on the shared RealTimeQA and SQuAD 2.0 dev sets.

Retrieval runs once per question through the chain's own `Asker.retrieve` (cached in --cache); candidate spans and
features come from the runtime code (qa/reader_features.py), so what is fitted is what runs. Questions are split
into train and validation by gold article (no article on both sides); both are reported. scikit-learn is used here
only (`pip install -e ".[fit]"`): the weights are stored as plain numbers and scored with numpy at runtime.

Example:

    python bench/fit_reader.py --store bench/out/reader-store            # collect (first run), fit, write
    python bench/fit_reader.py --store bench/out/reader-store --dry-run  # report only, keep the weights file
    python bench/fit_reader.py --store S --dry-run --folds 5             # + grouped 5-fold cross-validated figures
    python bench/fit_reader.py --store S --multihop M --dry-run --folds 5  # + MultiHop-RAG questions in training
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402

from articleqa.models import Passage  # noqa: E402
from articleqa.settings import Settings  # noqa: E402
from evaluation.metrics import contains_answer, exact_match, token_f1  # noqa: E402
from qa.reader import ReaderWeights, span_probabilities  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("realtimeqa-dev", "squad2-dev")
POSITIVE_F1 = 0.6  # a span counts as an answer when its token F1 with a gold answer is at least this
VALIDATION_SHARE = 0.3


def _retrieved(store: Path, path: Path, keep=lambda item: True):
    """(item, query, passages as dicts) for each question of a test set that `keep` accepts, retrieved exactly as
    `ask` does (one pass, slow)."""
    from evaluation.runner import eval_collection_name
    from evaluation.testset import load_testset
    from qa.ask import Asker, Request

    testset = load_testset(path)
    settings = Settings().with_overrides(store_path=store, collection=eval_collection_name(testset.corpus, Settings()))
    asker = Asker(settings)
    try:
        for item in testset.items:
            if not keep(item):
                continue
            req = Request(item.question, reference_date=item.reference_date or testset.reference_date)
            query, retrieval, _ = asker.retrieve(req, asker.rewrite(req))
            yield item, query, [asdict(p) for p in retrieval.passages]
    finally:
        asker.store.close() if hasattr(asker.store, "close") else None


def collect(store: Path, data: Path) -> list[dict]:
    """Retrieve the passages of every question of both sets."""
    return [{"set": name, "id": item.id, "question": item.question, "query": query,
             "answers": list(item.answers) if item.scores_open else [], "answerable": item.answerable,
             "group": (item.gold_doc_ids or [item.id])[0], "passages": passages}
            for name in SETS for item, query, passages in _retrieved(store, data / name / "questions.jsonl")]


def collect_multihop(store: Path, data: Path) -> list[dict]:
    """Retrieve the MultiHop-RAG inference questions (their answer is a name, not yes/no) for extra training rows.

    They only ever join the training side: the figures reported are RealTimeQA's and SQuAD's.
    """
    path = data / "multihop-rag-dev" / "questions.jsonl"
    kinds = {d["qid"]: d.get("question_type", "") for d in map(json.loads, path.read_text("utf-8").splitlines())}
    keep = lambda item: kinds.get(item.id) == "inference_query" and bool(item.answers)  # noqa: E731
    return [{"set": "multihop-rag-dev", "id": item.id, "question": item.question, "query": query,
             "answers": list(item.answers), "answerable": True, "group": "mh:" + item.id, "passages": passages}
            for item, query, passages in _retrieved(store, path, keep)]


def featurize(rows: list[dict]) -> list[dict]:
    """Candidate spans, features and labels per question (runtime code, fresh caches)."""
    from articleqa.embed import get_embedder
    from qa.extractive import EXPECTED, PERSON_NOUNS, ExtractiveAnswerer, _stem_one
    from qa.reader import SpanReader
    from qa.reader_features import candidate_spans, feature_names, span_features

    settings = Settings()
    # The features do not depend on the span weights (which may be stale while the features change).
    dummy = ReaderWeights(tuple(feature_names()), np.zeros(len(feature_names())), 1.0)
    ext = ExtractiveAnswerer(settings, get_embedder(settings), SpanReader(dummy))
    out = []
    for r in rows:
        passages = [Passage(**p) for p in r["passages"]]
        q, ranked = ext.rank(r["query"], passages)
        ok = [c for c in ranked if c.type_ok]
        # As at runtime: the sentences the reader reads, and the passages' context.
        sents, context = ([], None)
        if ok:
            _, sents, context = ext.reading(q, ranked, ok, passages)
        spans = candidate_spans(sents)
        x = span_features(q.text, q.kind, q.stems, q.words, sents, spans, _stem_one, EXPECTED,
                          PERSON_NOUNS, context) if spans else None
        y = np.array([token_f1(s.text, r["answers"]) >= POSITIVE_F1 for s in spans], dtype=bool)
        best = ok[0] if ok else None
        answer_inputs = None
        if best is not None:
            answer_inputs = (q.text, q.stems, [c.fit for c in ok[:2]], best.cos, best.lex,
                             passages[best.passage].text)
        out.append({
            **r, "kind": q.kind, "x": x, "y": y, "spans": [s.text for s in spans], "answer_inputs": answer_inputs,
            "sentences": [s.text for s in sents], "best": best.text if best else "",
            "fit": best.fit if best else 0.0,
        })
    return out


def is_validation(group: str) -> bool:
    if group.startswith("mh:"):  # MultiHop-RAG rows only ever train
        return False
    return int(hashlib.sha1(group.encode()).hexdigest(), 16) % 1000 < VALIDATION_SHARE * 1000


def fit_pointwise(train: list[dict], c: float):
    """Logistic regression on standardised span features, scaling folded back into plain weights (bias in 'bias');
    the calibration is the identity, so a span's probability is the model's own."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from qa.reader_features import feature_names

    xs = np.vstack([t["x"] for t in train if t["x"] is not None])
    ys = np.concatenate([t["y"] for t in train if t["x"] is not None])
    names = feature_names()
    bias = names.index("bias")
    scaler = StandardScaler().fit(xs)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=c, max_iter=5000).fit((xs - scaler.mean_) / scale, ys)
    w = model.coef_[0] / scale
    w[bias] = 0.0
    w[bias] = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scale))
    return ReaderWeights(tuple(names), w, 0.0, calibration=(0.0, 1.0, 0.0))


def fit_pairwise(train: list[dict], c: float, negatives: int = 40, seed: int = 0):
    """A linear span ranker fitted on pairs (right span minus wrong span of the same question, and the reverse) by
    logistic regression, then a calibration of the pick: P(top span right) from its score and its lead.

    Returns:
        ReaderWeights with threshold 0 (chosen afterwards).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    xs = np.vstack([t["x"] for t in train if t["x"] is not None])
    scale = StandardScaler().fit(xs).scale_
    scale = np.where(scale > 0, scale, 1.0)
    diffs = []
    for t in train:
        if t["x"] is None or not t["y"].any():
            continue
        x = t["x"] / scale
        pos, neg = np.flatnonzero(t["y"]), np.flatnonzero(~t["y"])
        for p in pos:
            for n in rng.permutation(neg)[:negatives]:
                diffs.append(x[p] - x[n])
    d = np.array(diffs)
    ranker = LogisticRegression(C=c, max_iter=5000, fit_intercept=False).fit(np.vstack([d, -d]),
                                                                             np.r_[np.ones(len(d)), np.zeros(len(d))])
    w = ranker.coef_[0] / scale
    return _calibrated(train, w)


def fit_listwise(train: list[dict], c: float):
    """A linear span scorer fitted with a softmax over each question's spans (conditional logit: the right spans
    against the other spans of the same question), then the calibration of its pick as in `fit_pairwise`."""
    from scipy.optimize import minimize
    from sklearn.preprocessing import StandardScaler

    groups = [t for t in train if t["x"] is not None and t["y"].any()]
    xs = np.vstack([t["x"] for t in train if t["x"] is not None])
    scaler = StandardScaler().fit(xs)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    mats = [((t["x"] - scaler.mean_) / scale, t["y"]) for t in groups]
    dim = xs.shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.5 / c * float(w @ w), w / c
        for x, y in mats:
            z = x @ w
            m = z.max()
            e = np.exp(z - m)
            p = e / e.sum()
            pos = p[y].sum()
            total -= float(np.log(pos + 1e-12))
            q = np.where(y, p, 0.0) / max(pos, 1e-12)
            grad = grad - (q - p) @ x
        return total, grad

    w = minimize(loss, np.zeros(dim), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x / scale
    return _calibrated(train, w)


FITTERS = {"pointwise": fit_pointwise, "pairwise": fit_pairwise, "listwise": fit_listwise}


def pick_threshold(train: list[dict], w) -> float:
    """The span acceptance threshold: the grid value with the best direct contains + F1 on the training questions."""
    grid = [round(t, 2) for t in np.arange(0.05, 0.95, 0.05)]
    train = [r for r in train if r["set"] in SETS]  # extra training sets shape the scorer, not the threshold
    return max(grid, key=lambda t: (lambda s: s["direct_contains"] + s["direct_f1"])(scores(train, w, t)))


def cross_validate(feats: list[dict], ranker: str, c: float, folds: int = 5) -> dict[str, dict[str, float]]:
    """Grouped k-fold cross-validation (by gold article): fit and choose the threshold on k-1 folds, score the held-out
    fold; the held-out direct answers of all folds pooled, per set."""
    fold = lambda r: int(hashlib.sha1(r["group"].encode()).hexdigest(), 16) % folds  # noqa: E731
    pooled: dict[str, list[tuple[str, bool, float]]] = {}
    held: dict[str, list[dict]] = {}
    for k in range(folds):
        train = [r for r in feats if (fold(r) != k or r["set"] not in SETS) and r["answers"]]
        test = [r for r in feats if fold(r) == k and r["answers"] and r["set"] in SETS]
        w = FITTERS[ranker](train, c)
        t = pick_threshold(train, w)
        for s in SETS:
            part = [r for r in test if r["set"] == s]
            pooled.setdefault(s, []).extend(direct_answers(part, w, t))
            pooled.setdefault(s + "/top", []).extend(direct_answers(part, w, 0.0))
            held.setdefault(s, []).extend(part)
    out = {}
    for s in SETS:
        gold = [r["answers"] for r in held[s]]
        got = [a for a, _, _ in pooled[s]]
        top = [a for a, _, _ in pooled[s + "/top"]]
        out[s] = {"n": len(gold),
                  "direct_contains": _mean(contains_answer, got, gold), "direct_f1": _mean(token_f1, got, gold),
                  "span_share": round(float(np.mean([sp for _, sp, _ in pooled[s]])), 4),
                  "top_span_contains": _mean(contains_answer, top, gold), "top_span_f1": _mean(token_f1, top, gold)}
    return out


def _mean(f, got: list[str], gold: list[list[str]]) -> float:
    return round(float(np.mean([f(a, g) for a, g in zip(got, gold, strict=True)])), 4)


def answerability_rows(rows: list[dict], w) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Question-level features (with the span model's top probability) and labels of the non-refused questions."""
    from qa.extractive import _stem_one
    from qa.reader_features import answerability_features

    xs, ys, kept = [], [], []
    for r in rows:
        if r["refused"] or r["answer_inputs"] is None:
            continue
        qtext, qstems, fits, cos, lex, ptext = r["answer_inputs"]
        top = float(np.max(span_probabilities(r["x"], w))) if r["x"] is not None else 0.0
        xs.append(answerability_features(qtext, qstems, fits, cos, lex, top, ptext, _stem_one))
        ys.append(r["answerable"])
        kept.append(r)
    return np.array(xs), np.array(ys, dtype=bool), kept


def fit_answerability(rows: list[dict], w, max_false_refusals: float, c: float) -> tuple[np.ndarray, float]:
    """Logistic regression answerable vs not, and the highest threshold whose false refusals (share of the
    answerable training questions refused) stay within `max_false_refusals`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    xs, ys, kept = answerability_rows(rows, w)
    scaler = StandardScaler().fit(xs)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=c, max_iter=5000).fit((xs - scaler.mean_) / scale, ys)
    a = model.coef_[0] / scale
    a[0] = 0.0
    a[0] = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scale))
    p = 1.0 / (1.0 + np.exp(-(xs @ a)))
    # The highest threshold that keeps every set's false refusals (evidence threshold included) within the bound.
    best = 0.0
    for t in np.arange(0.0, 1.0, 0.01):
        ok = True
        for name in SETS:
            answerable = [r for r in rows if r["answerable"] and r["set"] == name]
            refused = sum(1 for r in answerable if r["refused"])
            refused += sum(1 for pi, r in zip(p, kept, strict=True) if r["answerable"] and r["set"] == name and pi < t)
            ok &= refused <= max_false_refusals * len(answerable)
        if ok:
            best = float(t)
    return a, best


def mark_answerability(rows: list[dict], w, a: np.ndarray | None, threshold: float) -> None:
    """Set `refused_a` on each question the answerability model would refuse."""
    for r in rows:
        r["refused_a"] = False
    if a is None:
        return
    xs, _, kept = answerability_rows(rows, w)
    for x, r in zip(xs, kept, strict=True):
        r["refused_a"] = bool(1.0 / (1.0 + np.exp(-(x @ a))) < threshold)


def refusal_scores(rows: list[dict]) -> dict[str, float]:
    """Refusal rate of the unanswerable questions and false-refusal rate of the answerable ones."""
    un = [r for r in rows if not r["answerable"]]
    an = [r for r in rows if r["answerable"]]
    refused = lambda r: r["refused"] or r.get("refused_a", False)  # noqa: E731
    return {"refusal_rate": float(np.mean([refused(r) for r in un])) if un else float("nan"),
            "false_refusal_rate": float(np.mean([refused(r) for r in an])) if an else float("nan"),
            "n_unanswerable": len(un), "n_answerable": len(an)}


def direct_answers(rows: list[dict], w, threshold: float) -> list[tuple[str, bool, float]]:
    """(direct answer, is a span, top probability) per question: the top span when it clears the threshold, else
    the extractive best sentence; '' when the answerer refuses."""
    out = []
    for r in rows:
        if r["refused"] or r.get("refused_a"):
            out.append(("", False, 0.0))
            continue
        if r["x"] is None:
            out.append((r["best"], False, 0.0))
            continue
        p = span_probabilities(r["x"], w)
        i = int(np.argmax(p))
        out.append((r["spans"][i], True, float(p[i])) if p[i] >= threshold else (r["best"], False, float(p[i])))
    return out


def scores(rows: list[dict], w, threshold: float) -> dict[str, float]:
    """Direct-answer contains / F1 / EM, span share and oracle over the answerable questions with open answers."""
    rows = [r for r in rows if r["answers"]]
    if not rows:
        return {}
    got = [a for a, _, _ in direct_answers(rows, w, threshold)]
    spans = [s for _, s, _ in direct_answers(rows, w, threshold)]
    top = [a for a, _, _ in direct_answers(rows, w, 0.0)]
    gold = [r["answers"] for r in rows]

    def mean(f, xs) -> float:
        return float(np.mean([f(a, g) for a, g in zip(xs, gold, strict=True)]))

    return {
        "n": len(rows),
        "direct_contains": mean(contains_answer, got),
        "direct_f1": mean(token_f1, got),
        "direct_em": mean(exact_match, got),
        "span_share": float(np.mean(spans)),
        "top_span_f1": mean(token_f1, top),
        "top_span_contains": mean(contains_answer, top),
        "oracle_span": float(np.mean([bool(r["y"].any()) for r in rows])),
        "best_sentence_contains": float(np.mean([contains_answer(r["best"], r["answers"]) for r in rows])),
    }


def cue_counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Dev-set counts behind the kind patterns: questions per expected kind, and how many of those have a gold
    answer whose NER label is one the kind expects."""
    from articleqa.text import nlp as load_nlp
    from qa.extractive import EXPECTED

    nlp = load_nlp()
    out: dict[str, Counter] = {}
    for r in rows:
        if not r["kind"] or not r["answers"]:
            continue
        c = out.setdefault(r["kind"], Counter())
        c["questions"] += 1
        labels = {e.label_ for a in r["answers"] for e in nlp(a).ents}
        c["gold_has_expected_label"] += bool(labels & EXPECTED[r["kind"]])
    return {k: dict(v) for k, v in sorted(out.items())}


def _calibrated(train: list[dict], w: np.ndarray) -> ReaderWeights:
    """The weights with a calibration of their pick (top score and its gap to the next) fitted on the training
    questions: the probability that the picked span is right."""
    from sklearn.linear_model import LogisticRegression

    from qa.reader import ReaderWeights
    from qa.reader_features import feature_names

    feats, labels = [], []
    for t in train:
        if t["x"] is None:
            continue
        scores = t["x"] @ w
        order = np.argsort(-scores)
        gap = scores[order[0]] - (scores[order[1]] if len(order) > 1 else scores[order[0]])
        feats.append([scores[order[0]], gap])
        labels.append(bool(t["y"][order[0]]))
    cal = LogisticRegression(C=10.0, max_iter=5000).fit(np.array(feats), np.array(labels))
    calibration = (float(cal.intercept_[0]), float(cal.coef_[0][0]), float(cal.coef_[0][1]))
    return ReaderWeights(tuple(feature_names()), w, 0.0, calibration=calibration)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="Store holding the eval-<hash> collections "
                    "(as bench/eval_shared.py --store made them).")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=None, help="Retrieval cache (default: <store>/fit_reader.pkl).")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "qa" / "reader_weights.json")
    ap.add_argument("--ranker", choices=tuple(FITTERS), default="listwise",
                    help="listwise: a softmax over each question's spans plus a calibration of its pick (measured "
                    "best held out, bench/README.md); pointwise: logistic regression per span; pairwise: a linear "
                    "ranker on right-minus-wrong span pairs plus the calibration.")
    ap.add_argument("--c", type=float, default=0.03, help="Inverse L2 regularisation strength (0.03: best held out "
                    "of 0.03-1.0, bench/README.md).")
    ap.add_argument("--answerability", action=argparse.BooleanOptionalAction, default=False,
                    help="Also fit the answerability model that refuses questions the evidence only resembles.")
    ap.add_argument("--max-false-refusals", type=float, default=0.08,
                    help="Share of answerable training questions the answerability model may refuse (with the "
                    "evidence threshold's own refusals).")
    ap.add_argument("--evidence-threshold", type=float, default=Settings().answer.refusal_threshold,
                    help="Evidence score below which the extractive answerer refuses before any model (the "
                    "refusal_threshold setting; default %(default)s).")
    ap.add_argument("--positive-f1", type=float, default=POSITIVE_F1,
                    help="Token F1 with a gold answer from which a span counts as right (default %(default)s).")
    ap.add_argument("--dry-run", action="store_true", help="Report only; do not write the weights file.")
    ap.add_argument("--fit-all", action="store_true", help="Fit the written weights (and choose the threshold) on all "
                    "questions, train and validation: report held-out figures with --folds then.")
    ap.add_argument("--folds", type=int, default=0, help="Also report grouped k-fold cross-validated direct answers "
                    "(by gold article), pooled over the held-out folds.")
    ap.add_argument("--multihop", type=Path, default=None, help="Store with the MultiHop-RAG eval collection "
                    "(as `articleqa eval --corpus` made it): add its inference questions to the training side.")
    args = ap.parse_args()

    from qa.reader_features import feature_names

    cache = args.cache or args.store / "fit_reader.pkl"
    if cache.is_file():
        rows = pickle.loads(cache.read_bytes())
    else:
        rows = collect(args.store, args.data)
        cache.write_bytes(pickle.dumps(rows))
    # Features are cached by the source of the code that computes them (refits with other learner settings are fast).
    code = "".join((Path(__file__).resolve().parents[1] / "qa" / f).read_text() for f in ("reader_features.py",
                                                                                         "extractive.py"))
    fcache = cache.with_name(f"fit_reader-features-{hashlib.sha1(code.encode()).hexdigest()[:10]}.pkl")
    if fcache.is_file():
        feats = pickle.loads(fcache.read_bytes())
    else:
        feats = featurize(rows)
        fcache.write_bytes(pickle.dumps(feats))
    if args.multihop:
        mcache = args.multihop / "fit_reader-multihop.pkl"
        if not mcache.is_file():
            mcache.write_bytes(pickle.dumps(collect_multihop(args.multihop, args.data)))
        mfcache = mcache.with_name(f"fit_reader-multihop-features-{hashlib.sha1(code.encode()).hexdigest()[:10]}.pkl")
        if not mfcache.is_file():
            mfcache.write_bytes(pickle.dumps(featurize(pickle.loads(mcache.read_bytes()))))
        feats = feats + pickle.loads(mfcache.read_bytes())
    for r in feats:  # labels from the cached spans, so the positive threshold can change without re-featurizing
        r["y"] = np.array([token_f1(t, r["answers"]) >= args.positive_f1 for t in r["spans"]], dtype=bool)
    for r in feats:  # refused by the evidence threshold before the answerability model is asked
        r["refused"] = r["answer_inputs"] is None or round(r["fit"], 4) < args.evidence_threshold
    train_all = [r for r in feats if not is_validation(r["group"])]
    val_all = [r for r in feats if is_validation(r["group"])]
    train = [r for r in train_all if r["answers"]]
    val = [r for r in val_all if r["answers"]]
    if args.folds:
        print(json.dumps({"cross_validated": cross_validate(feats, args.ranker, args.c, args.folds)}, indent=1))
    if args.fit_all:
        train_all, train = train_all + val_all, train + val
    w = FITTERS[args.ranker](train, args.c)
    a, a_threshold = (None, 0.0)
    if args.answerability:
        a, a_threshold = fit_answerability(train_all, w, args.max_false_refusals, 1.0)
    mark_answerability(feats, w, a, a_threshold)
    # The acceptance threshold trades span answers (F1) against falling back to the whole sentence (contains):
    # chosen on the training questions by the mean of the two.
    best_t = pick_threshold(train, w)
    report = {"threshold": best_t, "c": args.c, "evidence_threshold": args.evidence_threshold,
              "positive_f1": args.positive_f1,
              "train_questions": len(train), "validation_questions": len(val),
              "train_rows": int(sum(len(r["y"]) for r in train)),
              "train_positives": int(sum(r["y"].sum() for r in train))}
    report["answerability_threshold"] = round(a_threshold, 4)
    for name, part, everything in (("train", train, train_all), ("validation", val, val_all)):
        for s in SETS:
            got = scores([r for r in part if r["set"] == s], w, best_t)
            got.update(refusal_scores([r for r in everything if r["set"] == s]))
            report[f"{name}/{s}"] = {k: round(v, 4) for k, v in got.items()}
    report["cue_counts"] = cue_counts([r for r in feats if r["set"] in SETS])

    print(json.dumps(report, indent=1))
    top = sorted(zip(feature_names(), w.weights, strict=True), key=lambda nw: -abs(nw[1]))[:15]
    print("largest weights:", ", ".join(f"{n} {v:+.2f}" for n, v in top))
    if not args.dry_run:
        weights = replace(w, threshold=best_t, answerable=a, answerable_threshold=a_threshold)
        args.out.write_text(weights.to_json({"fitted": {k: v for k, v in report.items() if k != "cue_counts"}}))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
