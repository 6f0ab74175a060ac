"""The learned span reader: picks the direct short answer, a verbatim span of an evidence sentence, or nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from articleqa.models import Citation
from qa.reader_features import (
    ANSWERABILITY,
    Context,
    SentenceView,
    SpanCandidate,
    candidate_spans,
    feature_names,
    span_features,
)

WEIGHTS_PATH = Path(__file__).with_name("reader_weights.json")
WEIGHTS_VERSION = 1


@dataclass(frozen=True)
class ReaderWeights:
    """Logistic-regression weights over `feature_names()` (scaling folded in) and the acceptance threshold."""

    names: tuple[str, ...]
    weights: np.ndarray
    threshold: float
    version: int = WEIGHTS_VERSION
    calibration: tuple[float, float, float] = (0.0, 1.0, 0.0)  # P(top span answers) = sigmoid(c0 + c1 top + c2 gap)
    answerable: np.ndarray | None = None  # weights over ANSWERABILITY (None: no answerability model)
    answerable_threshold: float = 0.0  # below this probability the question is refused

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> ReaderWeights:
        """Read the weights file written by `bench/fit_reader.py`.

        Raises:
            ValueError: the file's feature list is not the one this code computes (refit with the script).
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        names = tuple(data["features"])
        if list(names) != feature_names() or data.get("version") != WEIGHTS_VERSION:
            raise ValueError(f"{path}: features or version differ from qa/reader_features.py; "
                             "refit with `python bench/fit_reader.py`")
        ans = data.get("answerability")
        if ans is not None and list(ans["features"]) != list(ANSWERABILITY):
            raise ValueError(f"{path}: answerability features differ from qa/reader_features.py; "
                             "refit with `python bench/fit_reader.py`")
        return cls(names, np.asarray(data["weights"], dtype=np.float64), float(data["threshold"]), data["version"],
                   tuple(data.get("calibration", (0.0, 1.0, 0.0))),
                   np.asarray(ans["weights"], dtype=np.float64) if ans else None,
                   float(ans["threshold"]) if ans else 0.0)

    def to_json(self, extra: dict[str, Any] | None = None) -> str:
        """The weights file's content (feature names next to their weights, so a diff is readable)."""
        body: dict[str, Any] = {"version": self.version, "threshold": round(self.threshold, 4),
                                "calibration": [round(float(c), 6) for c in self.calibration],
                                "features": list(self.names), "weights": [round(float(w), 6) for w in self.weights]}
        if self.answerable is not None:
            body["answerability"] = {"threshold": round(self.answerable_threshold, 4), "features": list(ANSWERABILITY),
                                     "weights": [round(float(w), 6) for w in self.answerable]}
        body.update(extra or {})
        return json.dumps(body, indent=1) + "\n"


@lru_cache(maxsize=1)
def default_weights() -> ReaderWeights:
    """The weights shipped in the package (qa/reader_weights.json)."""
    return ReaderWeights.load()


@dataclass
class ShortAnswer:
    """A direct answer read from the evidence: `text` is `sentence[start:end]`, verbatim."""

    text: str
    sentence: str
    passage: int  # 0-based index into the passages the sentence came from
    start: int
    end: int
    score: float  # the reader's probability that the span answers the question


@dataclass
class ReadResult:
    """What the reader returns: the accepted span (or None) and every scored candidate, best first."""

    short: ShortAnswer | None
    ranked: list[tuple[float, SpanCandidate]]


class SpanReader:
    """Scores candidate spans (entities, noun chunks, numbers) of a few evidence sentences with fitted weights."""

    def __init__(self, weights: ReaderWeights | None = None):
        self.weights = weights or default_weights()

    def run(
        self,
        question: str,
        kind: str,
        qstems: frozenset[str],
        qwords: frozenset[str],
        sentences: list[SentenceView],
        stem: Any,
        expected: dict[str, frozenset[str]],
        person_nouns: frozenset[str] = frozenset(),
        context: Context | None = None,
    ) -> ReadResult:
        """Read the direct answer of a question from its best evidence sentences.

        Args:
            question: the (self-contained) question.
            kind: the expected answer kind from the question analysis ("" when any).
            qstems, qwords: the question's stems and words.
            sentences: the evidence sentences, best first, parsed.
            stem: the word -> stem function the answerer uses.
            expected: answer kind -> the spaCy labels that answer it.
            person_nouns: nouns naming people, for "who" questions.
            context: the retrieved articles' texts and titles (how often a span recurs in them) and the noun a
                "which X" question asks for (how close a span is to it).
        Returns:
            The best span when its probability clears the fitted threshold (else `short` is None), and all spans.
        """
        spans = candidate_spans(sentences)
        if not spans:
            return ReadResult(None, [])
        x = span_features(question, kind, qstems, qwords, sentences, spans, stem, expected, person_nouns, context)
        probs = span_probabilities(x, self.weights)
        ranked = sorted(zip(probs.tolist(), spans, strict=True), key=lambda ps: -ps[0])
        p, best = ranked[0]
        if p < self.weights.threshold:
            return ReadResult(None, ranked)
        s = sentences[best.sentence]
        return ReadResult(ShortAnswer(best.text, s.text, s.passage, best.start, best.end, round(p, 4)), ranked)


def span_probabilities(x: np.ndarray, weights: ReaderWeights) -> np.ndarray:
    """Per span, the probability that it is the answer if it is the reader's pick: a linear ranking score (fitted
    on pairs of right and wrong spans of the same question), calibrated on the score and its lead over the next."""
    scores = x @ weights.weights
    order = np.sort(scores)[::-1]
    second = order[1] if len(order) > 1 else order[0]
    gaps = np.where(scores >= order[0], scores - second, scores - order[0])
    c0, c1, c2 = weights.calibration
    return 1.0 / (1.0 + np.exp(-(c0 + c1 * scores + c2 * gaps)))


def probability(x: np.ndarray, w: np.ndarray) -> float:
    """The logistic model's probability for one feature row."""
    return float(1.0 / (1.0 + np.exp(-(x @ w))))


def verify_span(short: str, quote: str, start: int, end: int) -> bool:
    """Whether a short answer is exactly `quote[start:end]` and not empty: the check run before it is shown."""
    return bool(short.strip()) and 0 <= start < end <= len(quote) and quote[start:end] == short


@dataclass
class DirectAnswer:
    """A short answer checked against the citation it is shown with: `quote[start:end]` of citation `number`."""

    text: str
    number: int
    start: int  # character offsets in the cited article's text
    end: int


def cite_short(short: ShortAnswer | None, citations: list[Citation]) -> DirectAnswer | None:
    """Tie a read span to the checked citation of its sentence, verifying it is verbatim there.

    Args:
        short: the span the reader accepted (None when it accepted none).
        citations: the checked citations of the answer's supporting sentences.
    Returns:
        The span with its citation number and article offsets, or None when no citation quotes its sentence or the
        span is not exactly in the quote (then the answer leads with the supporting sentence alone).
    """
    if short is None:
        return None
    for c in citations:
        at = c.quote.find(short.sentence) if not c.record_field else -1
        if at < 0:
            continue
        start, end = at + short.start, at + short.end
        if verify_span(short.text, c.quote, start, end):
            return DirectAnswer(short.text, c.number, c.start + start, c.start + end)
    return None
