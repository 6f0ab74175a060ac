"""List answers: further answers of the same kind as the one read, from other evidence sentences ("Who came?")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from articleqa.text import words
from qa.reader_features import SentenceView, SpanCandidate, candidate_spans

# Question kinds whose answer is often several people ("who accompanied / attended / was arrested"); see
# bench/README.md for the dev-set counts behind the kind and the similarity threshold.
LIST_KINDS = frozenset({"person"})
SIMILARITY = 0.6  # cosine (MiniLM) between a further answer and the answer already read: "his sister" ~ "his daughter"
_PERSON_STYPES = frozenset({"PERSON", "CHUNK", "CHUNK_PROPER"})
_FUNCTION = frozenset({"a", "an", "the", "of", "and", "his", "her", "their", "its", "our", "my", "your"})


@dataclass(frozen=True)
class MoreAnswer:
    """A further answer: `span` of the evidence sentence `sentence`, and its similarity to the answer read."""

    sentence: SentenceView
    span: SpanCandidate
    similarity: float


def anchor_spans(lead: SentenceView, anchor: tuple[int, int]) -> list[SpanCandidate]:
    """The candidate spans of the lead sentence that make up the answer read there: every span inside the widest
    span overlapping it ("his sister Kim Yo Jong" gives "his sister" and "Kim Yo Jong" too)."""
    spans = candidate_spans([lead])
    over = [s for s in spans if s.start < anchor[1] and s.end > anchor[0]]
    if not over:
        return []
    lo, hi = min(s.start for s in over), max(s.end for s in over)
    return [s for s in spans if s.start >= lo and s.end <= hi]


def more_answers(
    kind: str,
    qwords: frozenset[str],
    qstems: frozenset[str],
    stem: Callable[[str], str],
    lead: SentenceView,
    anchor: tuple[int, int],
    others: list[SentenceView],
    encode: Callable[[list[str]], np.ndarray],
    person_nouns: frozenset[str],
) -> list[MoreAnswer]:
    """Answers of the same kind as the one read in `lead`, one per other sentence, most similar first.

    A further answer is a person (entity, or a noun chunk headed by a person noun) that neither the question nor
    the answer read names, in a sentence sharing a word with the question, whose embedding is within SIMILARITY
    of a part of the answer already read. Only for LIST_KINDS questions.

    Args:
        kind: the question's expected answer kind.
        qwords, qstems: the question's words and stems.
        stem: word -> stem.
        lead: the sentence the answer was read from.
        anchor: character offsets of that answer in `lead`.
        others: the other evidence sentences (not already in the answer).
        encode: texts -> normalised vectors.
        person_nouns: nouns naming people.
    """
    if kind not in LIST_KINDS or not others:
        return []
    anchors = anchor_spans(lead, anchor)
    if not anchors:
        return []
    # A span sharing a content word with the answer read names the same one again ("Kim" after "Kim Jong Un").
    known = {w for a in anchors for w in words(a.text)} - _FUNCTION
    found: list[tuple[int, SpanCandidate]] = []
    for i, s in enumerate(others):
        if not any(stem(w) in qstems for w in words(s.text)):
            continue
        for sp in candidate_spans([s]):
            ws = words(sp.text)
            if sp.stype not in _PERSON_STYPES or any(w in qwords or stem(w) in qstems or w in known for w in ws):
                continue
            if sp.stype != "PERSON" and not (ws and ws[-1] in person_nouns):
                continue
            found.append((i, sp))
    if not found:
        return []
    vecs = encode([a.text for a in anchors] + [sp.text for _, sp in found])
    sims = (vecs[len(anchors):] @ vecs[: len(anchors)].T).max(axis=1)
    best: dict[int, MoreAnswer] = {}
    for (i, sp), sim in zip(found, sims.tolist(), strict=True):
        if sim >= SIMILARITY and (i not in best or sim > best[i].similarity):
            best[i] = MoreAnswer(others[i], sp, round(sim, 4))
    return sorted(best.values(), key=lambda m: -m.similarity)
