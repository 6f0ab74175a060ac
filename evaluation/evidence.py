"""Evidence-level retrieval scores and answer accuracy as MultiHop-RAG defines them (Tang & Yang, 2024)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

EVIDENCE_KS = (4, 10)
# A passage holds a fact when it contains the fact verbatim (spaces ignored, as the paper's script does), or when
# it holds at least this share of the fact's words: facts are sentences, and a sentence the chunker split across
# two passages, or that cleaning touched (quotes, dashes, a stripped caption), still counts where most of it is.
FACT_TOKEN_RECALL = 0.8
# Gold answers that are verdicts: only the answer's own verdict counts, not the word somewhere in a quote.
VERDICTS = frozenset({"yes", "no", "true", "false"})

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text.translate(_QUOTES).casefold())


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.translate(_QUOTES).casefold())


def contains_fact(passage: str, fact: str) -> bool:
    """Whether a passage holds an evidence fact: verbatim (spaces and quote styles ignored) or most of its words.

    Args:
        passage: a retrieved passage's text.
        fact: one evidence sentence.
    Returns:
        True on a hit.
    """
    if not fact.strip():
        return False
    if _squash(fact) in _squash(passage):
        return True
    want = Counter(_tokens(fact))
    if not want:
        return False
    have = Counter(_tokens(passage))
    return sum((want & have).values()) / sum(want.values()) >= FACT_TOKEN_RECALL


def evidence_rank(passages: Sequence[str], facts: Sequence[str], depth: int = 10) -> int:
    """1-based rank of the first passage within `depth` that holds any fact (0 = none)."""
    for rank, text in enumerate(passages[:depth], 1):
        if any(contains_fact(text, f) for f in facts):
            return rank
    return 0


def facts_found(passages: Sequence[str], facts: Sequence[str], depth: int = 10) -> float:
    """Share of the facts held by some passage within `depth` (how complete the evidence is)."""
    if not facts:
        return 0.0
    top = passages[:depth]
    return sum(1 for f in facts if any(contains_fact(t, f) for t in top)) / len(facts)


def _norm(text: str) -> str:
    return " ".join(_tokens(text))


def answer_accuracy(answerable: bool, refused: bool, answers: Sequence[str], short: str, body: str) -> float | None:
    """The paper's accuracy: the gold answer appears in the answer (case-insensitive); a refusal is right exactly when
    the question is unanswerable.

    A verdict ("Yes", "No") counts only as the answer's own verdict (its short answer, else its first word), because
    "no" or "yes" inside a quoted sentence says nothing about what the system concluded.

    Returns:
        1.0 / 0.0, or None for an answerable item without gold answers.
    """
    if not answerable:
        return float(refused)
    if not answers:
        return None
    if refused:
        return 0.0
    verdict = (_tokens(short) or _tokens(body) or [""])[0]
    text = f" {_norm(short)} {_norm(body)} "
    for gold in answers:
        g = _norm(gold)
        if g in VERDICTS:
            if verdict == g:
                return 1.0
        elif g and f" {g} " in text:
            return 1.0
    return 0.0
