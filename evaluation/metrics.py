"""Scoring: SQuAD EM/F1, contains-gold, multiple choice, retrieval, refusals, citations, latency and bootstrap CIs."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from articleqa.models import Answer, Passage
from articleqa.text import MARKER_GROUP, marker_numbers
from evaluation import evidence as EV
from qa.metadata import verify

HIT_KS = (1, 3, 4, 5, 10)  # 4 too, to sit beside the anchor figures in ../shared/data/README.md
RECALL_KS = (5, 10)
RETRIEVAL_DEPTH = 10
HEADLINE = (
    "em", "f1", "direct_contains", "contains", "mc_accuracy", "hit@1", "hit@5", "mrr@10", "refusal_rate",
    "false_refusal_rate",
    "citation_precision", "citation_recall", "invalid_citations",
)
LOWER_IS_BETTER = frozenset({"false_refusal_rate", "invalid_citations", "answer_words", "errors"})
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20250905

_PUBLISHED = re.compile(r"\n?\(Published: [^\n]*\)\s*$")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


# ---- text normalisation and open-answer scores -------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation (Unicode too, e.g. curly quotes), articles, extra spaces."""
    text = text.lower().replace("’", "'")
    text = "".join(" " if ch in string.punctuation or unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised answer, else 0.0 (0.0 with no answers)."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1, the maximum over the acceptable answers (0.0 with no answers)."""
    return max((_f1(prediction, a) for a in answers), default=0.0)


def _f1(prediction: str, answer: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def contains_answer(text: str, answers: Sequence[str]) -> float:
    """1.0 when any normalised answer appears, on word boundaries, in the normalised text."""
    hay = f" {normalize_answer(text)} "
    return float(any(n and f" {n} " in hay for n in (normalize_answer(a) for a in answers)))


def answer_body(answer: Answer) -> str:
    """The answer text without [n] markers and the trailing "(Published: ...)" line."""
    text = _PUBLISHED.sub("", answer.answer)
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER_GROUP.sub("", text)).strip()


def direct_answer(answer: Answer) -> str:
    """What the answer leads with: its checked short answer, else its first sentence ("" when refused)."""
    if answer.refused:
        return ""
    if answer.short_answer:
        return answer.short_answer
    from articleqa.text import split_sentences

    first = split_sentences(answer_body(answer))
    return first[0].text if first else ""


def word_count(text: str) -> int:
    """Words in a text (whitespace-separated tokens)."""
    return len(text.split())


# ---- multiple choice ---------------------------------------------------------------------------------------------
_STOP = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being has have had do does did "
    "this that these those it its as which who whom whose what when where why how will would can could should may "
    "might not no than then there their they them he she his her him we our you your i me my into over after before "
    "about also just more most such only said says".split()
)


def _terms(text: str) -> list[str]:
    # Crude stemming (plural/possessive) so "sanctions" supports "sanction"; numbers kept whole ("1,000" -> "1000").
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower().replace("’", "'"))
    out = []
    for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text):
        w = w.removesuffix("'s")
        if w in _STOP:
            continue
        if len(w) > 4 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


@dataclass
class ChoicePick:
    """The choice the evidence supports best, with every choice's score."""

    index: int
    scores: list[float]
    used_embeddings: bool = False


def evidence_units(answer: Answer, passages: Sequence[Passage] | None = None, top: int = 5) -> list[tuple[str, float]]:
    """The texts a multiple-choice pick is judged on, each with a weight.

    Args:
        answer: the system's answer; its text and cited quotes weigh most (what the system committed to).
        passages: ranked passages (default `answer.passages`); the first `top` count, with decaying weight.
        top: how many passages to use.
    Returns:
        (sentence, weight) pairs.
    """
    units: list[tuple[str, float]] = []
    seen: set[str] = set()

    def add(text: str, weight: float) -> None:
        for s in _sentences(text):
            key = normalize_answer(s)
            if key and key not in seen:
                seen.add(key)
                units.append((s, weight))

    if not answer.refused:
        add(answer_body(answer), 1.0)
        for c in answer.citations:
            add(c.quote, 1.0)
    for rank, p in enumerate(list(passages if passages is not None else answer.passages)[:top]):
        add(p.text, 0.6 * 0.85**rank)
    return units


def pick_choice(question: str, choices: Sequence[str], units: Sequence[tuple[str, float]], embedder=None) -> ChoicePick:
    """Pick the multiple-choice option best supported by the evidence.

    Each choice is reduced to its distinctive terms (words of the question and words every choice shares carry no
    signal; a term shared by some choices is down-weighted by how many have it). A sentence supports a choice by the
    weighted share of those terms it contains (a verbatim phrase match counts in full plus a bonus), scaled by how
    much of the question the sentence is about and by the sentence's weight (answer/cited text > top passages).
    A choice scores its best sentence plus a little of its average, so several supporting sentences help.
    Near-ties (within 0.02) are broken by embedding similarity between the choice and the evidence sentences.

    Args:
        question: the question.
        choices: the options.
        units: (sentence, weight) evidence, e.g. from `evidence_units`.
        embedder: optional articleqa Embedder for the tie-break.
    Returns:
        A ChoicePick (index of the pick, per-choice scores).
    """
    qterms = set(_terms(question))
    cterms = [set(_terms(c)) - qterms or set(_terms(c)) for c in choices]
    df = Counter(t for ts in cterms for t in ts)
    sents = [(s, w, set(_terms(s)), f" {normalize_answer(s)} ") for s, w in units]
    scores = []
    for choice, terms in zip(choices, cterms, strict=True):
        weights = {t: 1.0 / df[t] for t in terms}
        total = sum(weights.values())
        phrase = normalize_answer(choice)
        per_unit = []
        for _, w, sterms, norm in sents:
            cover = sum(v for t, v in weights.items() if t in sterms) / total if total else 0.0
            if phrase and f" {phrase} " in norm:
                cover = 1.2
            relevance = len(qterms & sterms) / len(qterms) if qterms else 0.0
            per_unit.append(w * cover * (0.4 + 0.6 * relevance))
        scores.append(max(per_unit, default=0.0) + 0.25 * (sum(per_unit) / len(per_unit) if per_unit else 0.0))
    used = False
    best = max(scores, default=0.0)
    close = [i for i, s in enumerate(scores) if best - s <= 0.02]
    if embedder is not None and len(close) > 1 and sents:
        texts, weights = [u[0] for u in sents], [u[1] for u in sents]
        sims = _choice_similarity(embedder, [choices[i] for i in close], texts, weights)
        for i, sim in zip(close, sims, strict=True):
            scores[i] += 0.01 * sim
        used = True
    index = max(range(len(choices)), key=lambda i: scores[i]) if choices else -1
    return ChoicePick(index=index, scores=[round(s, 4) for s in scores], used_embeddings=used)


def _choice_similarity(embedder, choices: list[str], sentences: list[str], weights: list[float]) -> list[float]:
    vecs = embedder.encode_sentences(list(choices) + list(sentences))
    cv, sv = vecs[: len(choices)], vecs[len(choices) :]
    sims = (cv @ sv.T) * np.asarray(weights, dtype=np.float32)[None, :]
    return [float(row.max()) for row in sims]


# ---- retrieval ---------------------------------------------------------------------------------------------------
def first_gold_rank(article_ids: Sequence[str], gold: set[str], depth: int = RETRIEVAL_DEPTH) -> int:
    """1-based rank of the first passage from a gold article within `depth` (0 = none)."""
    for rank, aid in enumerate(article_ids[:depth], 1):
        if aid in gold:
            return rank
    return 0


def recall_at(article_ids: Sequence[str], gold: set[str], k: int) -> float:
    """Share of the gold articles with a passage in the top k."""
    return len(gold & set(article_ids[:k])) / len(gold) if gold else 0.0


# ---- citations ---------------------------------------------------------------------------------------------------
def _squash(text: str) -> str:
    return " ".join(text.replace("’", "'").split())


def invalid_citations(answer: Answer) -> list[str]:
    """Citation problems: numbers in the text with no Citation, and quotes not found in their passage's text.

    Returns:
        One description per problem (empty when every citation is valid).
    """
    problems: list[str] = []
    numbers = {c.number for c in answer.citations}
    for m in MARKER_GROUP.finditer(answer.answer):
        for n in marker_numbers(m.group(1)):
            if n not in numbers:
                problems.append(f"[{n}] in the text has no citation")
    texts = {p.id: p.text for p in answer.passages}
    for c in answer.citations:
        source = c.passage_text or texts.get(c.passage_id, "")
        if c.record_field:  # a byline, publisher or date: checked against the article's stored record
            if not verify(c, answer.passages):
                problems.append(f"[{c.number}] {c.record_field} {c.quote!r} is not what article {c.article_id} records")
        elif not source:
            problems.append(f"[{c.number}] cites passage {c.passage_id} whose text is unknown")
        elif _squash(c.quote) not in _squash(source):
            problems.append(f"[{c.number}] quote not found in passage {c.passage_id}: {c.quote[:80]!r}")
    return problems


def citation_precision(answer: Answer, gold_strings: Sequence[str], gold_articles: set[str]) -> float | None:
    """Share of citations whose quote or passage contains a gold answer, or that come from a gold article.

    Returns:
        The share, or None when the answer has no citations.
    """
    if not answer.citations:
        return None
    good = 0
    for c in answer.citations:
        if c.article_id in gold_articles or contains_answer(f"{c.quote}\n{c.passage_text}", gold_strings):
            good += 1
    return good / len(answer.citations)


def cites_gold_article(answer: Answer, gold_articles: set[str]) -> float:
    """1.0 when a citation points into a gold article."""
    return float(any(c.article_id in gold_articles for c in answer.citations))


# ---- per-item scores ---------------------------------------------------------------------------------------------
@dataclass
class ItemScores:
    """Every score of one item; None where a score does not apply (e.g. F1 of an unanswerable question)."""

    answerable: bool
    refused: bool
    em: float | None = None
    f1: float | None = None
    contains: float | None = None
    direct_contains: float | None = None
    answer_words: int | None = None
    mc_correct: float | None = None
    mc_pick: int | None = None
    mc_scores: list[float] = field(default_factory=list)
    gold_rank: int | None = None  # None: no gold article to look for; 0: not in the top 10
    recall: dict[int, float] = field(default_factory=dict)
    answer_in_top4: float | None = None
    citation_precision: float | None = None
    citation_recall: float | None = None
    evidence_rank: int | None = None  # None: no evidence facts; 0: none in the top 10 (evaluation.evidence)
    evidence_found: float | None = None
    accuracy: float | None = None
    invalid: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""


def score_item(
    item: Any,
    answer: Answer,
    retrieved: Sequence[Passage],
    gold_articles: set[str],
    embedder=None,
) -> ItemScores:
    """Score one answered test item.

    Args:
        item: the evaluation.testset.TestItem.
        answer: what `Asker.ask` returned.
        retrieved: the ranked passages at depth 10 for the same query and filters.
        gold_articles: the item's gold article ids, already mapped onto stored ids (aliases resolved).
        embedder: optional, for the multiple-choice tie-break.
    Returns:
        The item's ItemScores.
    """
    s = ItemScores(answerable=item.answerable, refused=answer.refused, timings=dict(answer.timings))
    body = answer_body(answer)
    prediction = direct_answer(answer)
    if not answer.refused:
        s.answer_words = word_count(body)
    if item.scores_open:
        s.em = exact_match(prediction, item.answers)
        s.f1 = token_f1(prediction, item.answers)
        s.contains = 0.0 if answer.refused else contains_answer(body, item.answers)
        s.direct_contains = contains_answer(prediction, item.answers)
        s.answer_in_top4 = contains_answer("\n".join(p.text for p in retrieved[:4]), item.answers)
    if item.is_multiple_choice:
        pick = pick_choice(item.question, item.choices, evidence_units(answer), embedder)
        s.mc_pick, s.mc_scores = pick.index, pick.scores
        s.mc_correct = float(pick.index == item.answer_index)
    if item.answerable and gold_articles:
        ids = [p.article_id for p in retrieved]
        s.gold_rank = first_gold_rank(ids, gold_articles)
        s.recall = {k: recall_at(ids, gold_articles, k) for k in RECALL_KS}
        s.citation_recall = cites_gold_article(answer, gold_articles)
    if item.answerable:
        golds = list(item.answers) + ([item.correct_choice] if item.is_multiple_choice else [])
        s.citation_precision = citation_precision(answer, golds, gold_articles)
    if item.answerable and item.evidence_facts:
        texts = [p.text for p in retrieved]
        s.evidence_rank = EV.evidence_rank(texts, item.evidence_facts, RETRIEVAL_DEPTH)
        s.evidence_found = EV.facts_found(texts, item.evidence_facts, RETRIEVAL_DEPTH)
    s.accuracy = EV.answer_accuracy(item.answerable, answer.refused, item.answers, answer.short_answer, body)
    s.invalid = invalid_citations(answer)
    return s


# ---- aggregation -------------------------------------------------------------------------------------------------
def metric_values(scores: Sequence[ItemScores]) -> dict[str, list[float]]:
    """Per-item values of every mean-type metric (items where the metric does not apply are left out)."""
    ok = [s for s in scores if not s.error]
    out: dict[str, list[float]] = {
        "em": [s.em for s in ok if s.em is not None],
        "f1": [s.f1 for s in ok if s.f1 is not None],
        "contains": [s.contains for s in ok if s.contains is not None],
        "direct_contains": [s.direct_contains for s in ok if s.direct_contains is not None],
        "mc_accuracy": [s.mc_correct for s in ok if s.mc_correct is not None],
        "answer_in_top4": [s.answer_in_top4 for s in ok if s.answer_in_top4 is not None],
        "refusal_rate": [float(s.refused) for s in ok if not s.answerable],
        "false_refusal_rate": [float(s.refused) for s in ok if s.answerable],
        "citation_precision": [s.citation_precision for s in ok if s.citation_precision is not None],
        "citation_recall": [s.citation_recall for s in ok if s.citation_recall is not None],
        "answer_words": [float(s.answer_words) for s in ok if s.answer_words is not None],
    }
    ranked = [s.gold_rank for s in ok if s.gold_rank is not None]
    for k in HIT_KS:
        out[f"hit@{k}"] = [float(0 < r <= k) for r in ranked]
    out[f"mrr@{RETRIEVAL_DEPTH}"] = [1.0 / r if r else 0.0 for r in ranked]
    for k in RECALL_KS:
        out[f"recall@{k}"] = [s.recall[k] for s in ok if s.gold_rank is not None]
    out["accuracy"] = [s.accuracy for s in ok if s.accuracy is not None]
    ev = [s for s in ok if s.evidence_rank is not None]
    if ev:  # only sets with evidence sentences (MultiHop-RAG) report evidence-level retrieval
        for k in EV.EVIDENCE_KS:
            out[f"evidence_hit@{k}"] = [float(0 < s.evidence_rank <= k) for s in ev]
        out[f"evidence_mrr@{RETRIEVAL_DEPTH}"] = [1.0 / s.evidence_rank if s.evidence_rank else 0.0 for s in ev]
        out["evidence_found@10"] = [s.evidence_found or 0.0 for s in ev]
    return out


def summarize(scores: Sequence[ItemScores]) -> tuple[dict[str, float | None], dict[str, int]]:
    """Every metric over a set of items.

    Returns:
        (metrics, n): metric name -> value (None when no item applies) and how many items each value is over.
        `invalid_citations` and `errors` are totals, not means.
    """
    values = metric_values(scores)
    metrics: dict[str, float | None] = {k: (float(np.mean(v)) if v else None) for k, v in values.items()}
    n = {k: len(v) for k, v in values.items()}
    metrics["invalid_citations"] = float(sum(len(s.invalid) for s in scores))
    n["invalid_citations"] = len(scores)
    metrics["errors"] = float(sum(1 for s in scores if s.error))
    n["errors"] = len(scores)
    return metrics, n


def latency(scores: Sequence[ItemScores]) -> dict[str, dict[str, float]]:
    """p50 and p95 seconds per pipeline stage (from Answer.timings), over the items that report the stage."""
    stages: dict[str, list[float]] = {}
    for s in scores:
        for stage, sec in s.timings.items():
            stages.setdefault(stage, []).append(sec)
    return {
        stage: {"p50": percentile(v, 50), "p95": percentile(v, 95), "n": float(len(v))}
        for stage, v in sorted(stages.items(), key=lambda kv: (kv[0] == "total", kv[0]))
    }


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (linear interpolation); 0.0 for no values."""
    v = list(values)
    return float(np.percentile(v, q)) if v else 0.0


def bootstrap_ci(
    values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of the mean, deterministic for a given seed.

    Args:
        values: per-item values.
        resamples: bootstrap resamples.
        seed: RNG seed (fixed so reports are reproducible).
        level: confidence level.
    Returns:
        (low, high), or None for no values.
    """
    if not len(values):
        return None
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def confidence_intervals(scores: Sequence[ItemScores], names: Iterable[str] = HEADLINE) -> dict[str, list[float]]:
    """Bootstrap 95% CIs for the named mean-type metrics (totals such as invalid_citations have none)."""
    values = metric_values(scores)
    out = {}
    for name in names:
        ci = bootstrap_ci(values[name]) if name in values else None
        if ci is not None:
            out[name] = [round(ci[0], 4), round(ci[1], 4)]
    return out


def is_better(name: str, delta: float) -> bool | None:
    """Whether a change of `delta` in a metric is an improvement (None for no change)."""
    if math.isclose(delta, 0.0, abs_tol=1e-12):
        return None
    lower = name in LOWER_IS_BETTER or name.startswith("latency")
    return (delta < 0) if lower else (delta > 0)
