"""A learned sentence ranker (which front-runner sentence holds the answer), measured held out; not shipped.

Training signal: a sentence of a RealTimeQA or SQuAD 2.0 dev question that contains a gold answer (the retrieval of
`bench/fit_reader.py`, cached in <store>/fit_reader.pkl), and optionally MultiHop-RAG dev questions whose evidence
`fact` sentences mark the relevant sentences of their articles (--multihop STORE: a store holding the MultiHop-RAG
eval collection, as `articleqa eval --corpus` made it). Figures are held out: grouped k-fold cross-validation by gold
article, so no article is on both sides; MultiHop-RAG rows only ever join the training folds. scikit-learn is used
here only. Measured on the dev sets it picks the answer-bearing sentence no more often than the extractive
scorer once refusals are counted (bench/README.md, fourth session), so nothing of it runs in the answerer.

Example:

    python bench/fit_sentences.py --store S                  # cross-validate; writes held-out probabilities
    python bench/fit_sentences.py --store S --multihop M     # the same with MultiHop-RAG facts in the training folds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pickle
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np  # noqa: E402

from articleqa.models import Passage  # noqa: E402
from articleqa.settings import Settings  # noqa: E402
from articleqa.text import words  # noqa: E402
from evaluation.metrics import contains_answer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ROOT = Path(__file__).resolve().parents[1]
FOLDS = 5

# One row per sentence, in this order (the stored weights follow it).
FEATURES = (
    "bias", "cos", "lex", "fit", "cos_gap", "lex_gap", "fit_gap", "cos_order", "lex_order", "passage_prior",
    "first_passage", "type_ok", "type_ok_kind", "no_kind", "expected_log", "new_entities_log", "person_only",
    "first_in_passage", "article_lead", "title_share", "log_words", "long_sentence", "short_sentence",
    "names_missing", "numbers_missing", "rare_matched", "matched_share", "proximity", "quoted", "neighbour_lex",
    "has_digit",
)
_CAPITALISED = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'’-]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTES = "\"“”‘’'"


@dataclass
class SentenceFacts:
    """What the extractive scorer knows about one front-runner sentence (the ranker's input)."""

    text: str
    stems: frozenset[str]
    cos: float  # MiniLM similarity to the question
    lex: float  # idf-weighted share of the question's stems it holds
    fit: float  # the extractive evidence score (after the answer-type penalty)
    type_ok: bool  # holds the kind of answer the question expects
    passage: int  # retrieval rank of its passage, 0-based
    passage_position: int  # that passage's position in its article, 0-based
    index: int  # the sentence's position in its passage, 0-based
    lex_order: int  # its place in the lexical pre-score, 0-based
    title: str  # its article's title
    expected: int  # entities of the expected kind that the question does not name
    new_entities: int  # named entities or numbers of any kind that the question does not name
    person_only: bool  # a "who" sentence with a person noun but no new name
    neighbour_lex: float  # the higher lexical score of the sentences just before and after it in its passage


def sentence_features(question: str, kind: str, qstems: frozenset[str], qwords: frozenset[str],
                      idf: dict[str, float], facts: list[SentenceFacts]) -> np.ndarray:
    """The feature matrix, one row per sentence, columns as FEATURES.

    Args:
        question: the question.
        kind: its expected answer kind ("" when any).
        qstems, qwords: its stems and lower-cased words.
        idf: inverse document frequency of each question stem over the question's candidate sentences.
        facts: the front-runner sentences.
    """
    if not facts:
        return np.zeros((0, len(FEATURES)))
    max_cos = max(f.cos for f in facts)
    max_lex = max(f.lex for f in facts)
    max_fit = max(f.fit for f in facts)
    cos_order = {id(f): i for i, f in enumerate(sorted(facts, key=lambda f: -f.cos))}
    names = {w.lower() for w in _CAPITALISED.findall(question)}
    numbers = set(_NUMBER.findall(question))
    rarest = max((idf[s] for s in qstems), default=0.0)
    rows = np.zeros((len(facts), len(FEATURES)))
    for r, f in enumerate(facts):
        sent_words = words(f.text)
        low = set(sent_words)
        matched = qstems & f.stems
        positions = [i for i, w in enumerate(sent_words) if w in qwords and w not in _SHORT]
        values = {
            "bias": 1.0,
            "cos": f.cos,
            "lex": f.lex,
            "fit": f.fit,
            "cos_gap": f.cos - max_cos,
            "lex_gap": f.lex - max_lex,
            "fit_gap": f.fit - max_fit,
            "cos_order": 1.0 / (1.0 + cos_order[id(f)]),
            "lex_order": 1.0 / (1.0 + f.lex_order),
            "passage_prior": 1.0 / (1.0 + 0.5 * f.passage),
            "first_passage": float(f.passage == 0),
            "type_ok": float(f.type_ok),
            "type_ok_kind": float(f.type_ok and bool(kind)),
            "no_kind": float(not kind),
            "expected_log": math.log1p(f.expected),
            "new_entities_log": math.log1p(f.new_entities),
            "person_only": float(f.person_only),
            "first_in_passage": float(f.index == 0),
            "article_lead": float(f.index == 0 and f.passage_position == 0),
            "title_share": (len(qstems & _title_stems(f.title)) / len(qstems)) if qstems and f.title else 0.0,
            "log_words": math.log1p(len(sent_words)),
            "long_sentence": float(len(sent_words) > 40),
            "short_sentence": float(len(sent_words) < 8),
            "names_missing": (sum(1 for n in names if n not in low) / len(names)) if names else 0.0,
            "numbers_missing": (sum(1 for n in numbers if n not in f.text) / len(numbers)) if numbers else 0.0,
            "rare_matched": (max((idf[s] for s in matched), default=0.0) / rarest) if rarest else 0.0,
            "matched_share": len(matched) / len(qstems) if qstems else 0.0,
            # How tightly the question's words sit together in the sentence (1: adjacent; 0: one word or none).
            "proximity": (len(positions) / (1 + max(positions) - min(positions))) if len(positions) > 1 else 0.0,
            "quoted": float(f.text[:1] in _QUOTES or " said" in f.text),
            "neighbour_lex": f.neighbour_lex,
            "has_digit": float(any(ch.isdigit() for ch in f.text)),
        }
        rows[r] = [values[n] for n in FEATURES]
    return rows


_SHORT = frozenset({"a", "an", "the", "of", "in", "on", "at", "to", "is", "was", "did", "do", "does", "what", "who",
                    "which", "when", "where", "how", "why", "and", "for", "by", "with", "s"})


@lru_cache(maxsize=1024)
def _title_stems(title: str) -> frozenset[str]:
    from articleqa.text import stems

    return frozenset(stems(title))



def sentence_facts(q, ranked: list, passages: list[Passage]) -> list[SentenceFacts]:
    """What the ranker reads of each embedded front-runner (in the extractive scorer's order)."""
    from qa.extractive import _is_new, _new_entities

    lex = {(c.passage, c.index): c.lex for c in ranked}
    out = []
    for c in ranked:
        if c.doc is None:
            continue
        expected = _new_entities(q, c.doc, q.spec.labels) if q.kind else []
        new = [e for e in c.doc.ents if _is_new(e.text, q)]
        p = passages[c.passage]
        out.append(SentenceFacts(
            c.text, c.stems, c.cos, c.lex, c.fit, c.type_ok, c.passage, p.position, c.index, c.lex_order,
            p.title, len(expected), len(new), bool(q.spec.person_nouns and c.type_ok and not expected),
            max(lex.get((c.passage, c.index - 1), 0.0), lex.get((c.passage, c.index + 1), 0.0)),
        ))
    return out




def featurize(rows: list[dict], dense_candidates: int) -> list[dict]:
    """Per question: the front-runner sentences' features, labels, and which one today's scorer leads with."""
    from articleqa.embed import get_embedder
    from qa.extractive import ExtractiveAnswerer
    from qa.reader import ReaderWeights, SpanReader
    from qa.reader_features import feature_names

    settings = Settings().with_overrides(dense_candidates=dense_candidates)
    # Sentence features do not depend on the span reader's weights (which may be stale while its features change).
    dummy = ReaderWeights(tuple(feature_names()), np.zeros(len(feature_names())), 1.0)
    ext = ExtractiveAnswerer(settings, get_embedder(settings), SpanReader(dummy))
    out = []
    for r in rows:
        passages = [Passage(**p) for p in r["passages"]]
        q, ranked = ext.rank(r["query"], passages)
        facts = sentence_facts(q, ranked, passages)
        x = sentence_features(q.text, q.kind, q.stems, q.words, q.idf, facts)
        y = np.array([_label(f.text, r) for f in facts], dtype=bool)
        ok = [c for c in ranked if c.type_ok]
        lead = next((i for i, f in enumerate(facts) if ok and f.text == ok[0].text), -1)
        out.append({**r, "x": x, "y": y, "type_ok": np.array([f.type_ok for f in facts], dtype=bool),
                    "fit": np.array([f.fit for f in facts]), "texts": [f.text for f in facts], "lead": lead,
                    "kind": q.kind})
    return out


def _label(text: str, r: dict) -> bool:
    """A sentence is right when it contains a gold answer, or (MultiHop-RAG) when it is one of the evidence facts."""
    if r.get("facts"):
        norm = " ".join(text.split())
        return any(f in norm or (len(norm) > 40 and norm in f) for f in r["facts"])
    return bool(contains_answer(text, r["answers"]))


def collect_multihop(store: Path, data: Path) -> list[dict]:
    """Retrieve the passages of the MultiHop-RAG dev questions with evidence facts (null questions have none)."""
    from evaluation.runner import eval_collection_name
    from evaluation.testset import load_testset
    from qa.ask import Asker, Request

    path = data / "multihop-rag-dev" / "questions.jsonl"
    facts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        facts[d["qid"]] = [" ".join(e["fact"].split()) for e in d.get("evidence", [])]
    testset = load_testset(path)
    settings = Settings().with_overrides(store_path=store, collection=eval_collection_name(testset.corpus, Settings()))
    asker = Asker(settings)
    rows = []
    for item in testset.items:
        if not facts.get(item.id):
            continue
        req = Request(item.question, reference_date=item.reference_date or testset.reference_date)
        query, retrieval, _ = asker.retrieve(req, asker.rewrite(req))
        rows.append({"set": "multihop-rag-dev", "id": item.id, "question": item.question, "query": query,
                     "answers": [], "facts": facts[item.id], "answerable": True, "group": "mh:" + item.id,
                     "passages": [p.__dict__ if hasattr(p, "__dict__") else dict(p) for p in retrieval.passages]})
    return rows


def fit(rows: list[dict], c: float) -> np.ndarray:
    """Pointwise logistic regression on standardised features, the scaling folded back into plain weights."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    xs = np.vstack([r["x"] for r in rows if len(r["x"])])
    ys = np.concatenate([r["y"] for r in rows if len(r["x"])])
    scaler = StandardScaler().fit(xs)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=c, max_iter=5000).fit((xs - scaler.mean_) / scale, ys)
    w = model.coef_[0] / scale
    bias = FEATURES.index("bias")
    w[bias] = 0.0
    w[bias] = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scale))
    return w


def fold_of(group: str) -> int:
    return int(hashlib.sha1(group.encode()).hexdigest(), 16) % FOLDS


def pick(r: dict, p: np.ndarray, only_ok: bool) -> int:
    """The sentence the answer leads with: the likeliest (among those holding the expected kind when asked)."""
    if not len(p):
        return -1
    q = np.where(r["type_ok"], p, -1.0) if only_ok and r["type_ok"].any() else p
    return int(np.argmax(q))


def evaluate(rows: list[dict], probs: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """Share of questions whose lead sentence contains the gold: today's pick and the ranker's, per set."""
    out: dict[str, dict[str, float]] = {}
    for name in sorted({r["set"] for r in rows}):
        part = [(r, p) for r, p in zip(rows, probs, strict=True) if r["set"] == name]
        n = len(part)
        hit = lambda i, r: float(i >= 0 and bool(r["y"][i]))  # noqa: E731
        out[name] = {
            "n": n,
            "any_front": sum(float(r["y"].any()) for r, _ in part),
            "today_lead": sum(hit(r["lead"], r) for r, _ in part),
            "ranker_lead": sum(hit(pick(r, p, False), r) for r, p in part),
            "ranker_lead_type_ok": sum(hit(pick(r, p, True), r) for r, p in part),
            "ranker_top2": sum(float(bool(r["y"][np.argsort(-p)[:2]].any())) if len(p) else 0.0 for r, p in part),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="Store with fit_reader.pkl (bench/fit_reader.py).")
    ap.add_argument("--multihop", type=Path, default=None, help="Store with the MultiHop-RAG eval collection: add its "
                    "evidence facts to the training folds.")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--dense-candidates", type=int, default=Settings().answer.dense_candidates)
    ap.add_argument("--c", type=float, default=0.3)
    args = ap.parse_args()

    rows = pickle.loads((args.store / "fit_reader.pkl").read_bytes())
    rows = [r for r in rows if r["answers"]]
    extra: list[dict] = []
    if args.multihop:
        mcache = args.multihop / "fit_sentences-multihop.pkl"
        if not mcache.is_file():
            mcache.write_bytes(pickle.dumps(collect_multihop(args.multihop, args.data)))
        extra = pickle.loads(mcache.read_bytes())
    code = Path(__file__).read_text() + "".join((ROOT / "qa" / f).read_text() for f in ("extractive.py", "kinds.py"))
    key = hashlib.sha1(f"{code}{args.dense_candidates}".encode()).hexdigest()[:10]
    fcache = args.store / f"fit_sentences-{key}.pkl"
    if fcache.is_file():
        feats = pickle.loads(fcache.read_bytes())
    else:
        feats = featurize(rows, args.dense_candidates)
        fcache.write_bytes(pickle.dumps(feats))
    extra_feats: list[dict] = []
    if extra:
        ecache = args.multihop / f"fit_sentences-multihop-{key}.pkl"
        if ecache.is_file():
            extra_feats = pickle.loads(ecache.read_bytes())
        else:
            extra_feats = featurize(extra, args.dense_candidates)
            ecache.write_bytes(pickle.dumps(extra_feats))
    probs: list[np.ndarray] = [np.zeros(0)] * len(feats)
    for k in range(FOLDS):
        train = [r for r in feats if fold_of(r["group"]) != k] + extra_feats
        w = fit(train, args.c)
        for i, r in enumerate(feats):
            if fold_of(r["group"]) == k and len(r["x"]):
                probs[i] = 1.0 / (1.0 + np.exp(-(r["x"] @ w)))
    report = {"dense_candidates": args.dense_candidates, "c": args.c, "folds": FOLDS,
              "multihop_rows": len(extra_feats), "held_out": evaluate(feats, probs)}
    print(json.dumps(report, indent=1))
    w = fit(feats + extra_feats, args.c)
    top = sorted(zip(FEATURES, w, strict=True), key=lambda nw: -abs(nw[1]))[:12]
    print("largest weights (fitted on all):", ", ".join(f"{n} {v:+.2f}" for n, v in top))


if __name__ == "__main__":
    main()
