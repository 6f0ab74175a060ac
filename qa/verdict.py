"""The yes/no verdict across reports: features of each report's claim sentence, scored by a fitted logistic model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from articleqa.text import content_words, stem

if TYPE_CHECKING:
    from articleqa.embed import Embedder
    from articleqa.models import Passage
    from qa.plan import Plan

WEIGHTS_PATH = Path(__file__).with_name("verdict_weights.json")
STEP_PASSAGES = 4  # passages per step whose words count as "what that report says"
# Negation words: a claim and its report sentence disagreeing on one is a contradiction cue.
_NEGATION = re.compile(r"\b(?:not|no|never|without|none|nor|neither|n't|fail(?:s|ed)?|lack\w*|den(?:y|ies|ied))\b|"
                       r"n[’']t\b", re.I)
# How a question frames the comparison, one feature each (their weights are learned; see bench/fit_verdict.py).
CUES = {
    "both": r"\bboth\b",
    "contrast": r"\b(?:while|whereas|but|however)\b",
    "respectively": r"\brespectively\b",
    "same_words": r"\b(?:consisten\w*|same|similar\w*|align\w*|agree\w*|maintain\w*|remain\w*|continu\w*)\b",
    "diff_words": r"\b(?:inconsisten\w*|contradict\w*|differ\w*|disagree\w*|contrast\w*|change[ds]?|shift\w*)\b",
    "or_options": r"\bor\b",
    "also": r"\b(?:also|as well|too)\b",
    "order_words": r"\b(?:after|before|later|earlier|subsequent\w*|previous\w*|prior|following)\b",
}
_CUES = {k: re.compile(v, re.I) for k, v in CUES.items()}
# The features the shipped model weighs: support (also signed by asks_change), the framing cues with the largest
# counts, claim words no report contains, negation. Chosen over all computed features by 5-fold cross-validation on
# the development half (0.624 both ways; the smaller set kept), see bench/README.md.
FITTED = ("min_support_x_change", "mean_support", "min_support", "question_negation", "cue_diff_words",
          "cue_contrast", "cue_both", "claim_missing_frac", "negation_mismatch", "asks_change",
          "pair_similarity_x_change")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")


# Over time ("Between the report of October 1 and that of November 5, was there a change ...?"), a question asks
# either whether the reports changed or whether they stayed the same; reports that agree answer the first "No".
# Counts on the development half (temporal yes/no questions): the change word first in the final clause 39 (25 "No"),
# a sameness word first 42 (27 "Yes").
_TIME_CUE = re.compile(r"\b(?:before|after|later|earlier|subsequent\w*|previous\w*|prior|between|following)\b", re.I)
_CHANGE = re.compile(r"\b(?:change[ds]?|shift(?:ed|s)?|differ(?:ent|ence|ed)?|inconsisten\w*|contradict\w*|"
                     r"disagree\w*|departure|contrast\w*)\b", re.I)
_SAME = re.compile(r"\b(?:consisten\w*|remain\w*|maintain\w*|same|align\w*|agree\w*|similar\w*|stay\w*|"
                   r"continu\w*)\b", re.I)


def asks_about_change(plan: Plan) -> bool:
    """Whether a question about reports over time asks if they changed (rather than if they stayed the same)."""
    if not (plan.dates or _TIME_CUE.search(plan.question)):
        return False
    last = max((m.end for m in plan.mentions), default=0)
    tail = plan.question[last:]
    change, same = _CHANGE.search(tail), _SAME.search(tail)
    return bool(change) and (same is None or change.start() < same.start())


def _stem_set(text: str) -> set[str]:
    return {stem(w.removesuffix("'s")) for w in content_words(text)}


def _named_words(plan: Plan) -> set[str]:
    # The publications' own names are not part of any claim.
    return _stem_set(" ".join([m.text for m in plan.mentions] + [s for m in plan.mentions for s in m.sources]))


def verdict_features(plan: Plan, evidence: list, groups: list[list[Passage]], embedder: Embedder) -> dict[str, float]:
    """Numbers describing how well each named report supports its claim and how the question frames them.

    Args:
        plan: the question's plan (its steps name the reports).
        evidence: qa.multihop.Evidence per step (the claim sentence, its support and its parts).
        groups: the passages each step found (aligned with `plan.steps`).
        embedder: for the similarity of the reports' claim sentences to each other.
    Returns:
        Feature name -> value; `asks_change` flips what agreeing reports mean, so support features also come
        multiplied by its sign ("*_x_change").
    """
    from qa.cite import encode_cached

    q = plan.question
    named = _named_words(plan)
    supports = [e.support for e in evidence]
    lexical = [e.lexical for e in evidence]
    dense = [e.dense for e in evidence]
    change = asks_about_change(plan)
    sign = -1.0 if change else 1.0
    f: dict[str, float] = {
        "min_support": min(supports), "mean_support": float(np.mean(supports)), "max_support": max(supports),
        "min_lexical": min(lexical), "min_dense": min(dense), "asks_change": float(change),
        "steps": float(len(plan.steps)), "question_words": len(content_words(q)) / 30.0,
        "articles": float(len({e.passage.article_id for e in evidence if e.passage is not None})),
        "same_source": float(len({tuple(s.sources) for s in plan.steps}) == 1),
    }
    # Claim words no passage of the report's step contains: a changed detail ("stability" for "disparity") is
    # usually a word the report never uses.
    missing_frac, missing_max = [], 0
    for e, g in zip(evidence, groups, strict=False):
        claim = _stem_set(e.claim) - named
        gone = _missing(claim, g)
        missing_frac.append(len(gone) / len(claim) if claim else 0.0)
        missing_max = max(missing_max, len(gone))
    f["claim_missing_frac"] = max(missing_frac, default=0.0)
    f["claim_missing_words"] = min(missing_max, 5) / 5.0
    everything = set().union(*(_stem_set(p.text) for g in groups for p in g[:STEP_PASSAGES]))
    qwords = _stem_set(q) - named
    f["question_missing_frac"] = len(qwords - everything) / len(qwords) if qwords else 0.0
    text = " ".join(p.text for g in groups for p in g[:STEP_PASSAGES])
    numbers = set(_NUMBER.findall(q)) - set(re.findall(r"\b20\d\d\b", q))  # years name the reports' dates
    f["numbers_missing"] = float(sum(1 for n in numbers if n not in text))
    f["negation_mismatch"] = float(sum(1 for e in evidence if bool(_NEGATION.search(e.claim))
                                       != bool(_NEGATION.search(e.sentence))))
    f["question_negation"] = float(bool(_NEGATION.search(q)))
    sents = [e.sentence for e in evidence if e.sentence]
    if len(sents) >= 2:  # do the reports' claim sentences say the same thing?
        v = encode_cached(embedder, sents[:2])
        f["pair_similarity"] = float(v[0] @ v[1])
    else:
        f["pair_similarity"] = 0.0
    dates = [e.passage.date for e in evidence if e.passage is not None and e.passage.date]
    f["dates_in_order"] = float(len(dates) >= 2 and dates == sorted(dates))
    for k, rx in _CUES.items():
        f[f"cue_{k}"] = float(bool(rx.search(q)))
    for k in ("min_support", "mean_support", "min_lexical", "min_dense", "claim_missing_frac", "pair_similarity",
              "question_missing_frac"):
        f[f"{k}_x_change"] = f[k] * sign
    return f


def _missing(claim: set[str], passages: list[Passage]) -> set[str]:
    have = set().union(*(_stem_set(p.text) for p in passages[:STEP_PASSAGES])) if passages else set()
    return claim - have


def missing_claim_words(evidence, passages: list[Passage]) -> list[str]:
    """The words of a step's claim (as written) that none of its report passages contains, for the verdict line."""
    gone = _missing(_stem_set(evidence.claim), passages)
    return list(dict.fromkeys(w for w in content_words(evidence.claim) if stem(w.removesuffix("'s")) in gone))


@dataclass
class VerdictModel:
    """Logistic weights over verdict_features: P("Yes") = sigmoid(bias + sum(w * x))."""

    weights: dict[str, float] = field(default_factory=dict)
    bias: float = 0.0

    def probability(self, features: dict[str, float]) -> float:
        """P(the answer is "Yes") for one question's features (unknown features weigh nothing)."""
        z = self.bias + sum(w * features.get(k, 0.0) for k, w in self.weights.items())
        return float(1.0 / (1.0 + np.exp(-z)))

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> VerdictModel:
        """Weights from a JSON file written by `save`."""
        body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(dict(zip(body["features"], body["weights"], strict=True)), body["bias"])

    def save(self, path: Path, note: str = "") -> None:
        """Write the weights as JSON (names beside weights, so a diff reads)."""
        body = {"note": note, "bias": self.bias, "features": list(self.weights),
                "weights": list(self.weights.values())}
        path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=1)
def default_model() -> VerdictModel | None:
    """The shipped weights (qa/verdict_weights.json), or None before any fit (the support threshold decides)."""
    return VerdictModel.load() if WEIGHTS_PATH.exists() else None
