"""News answers go stale: a recency prior relative to the question's reference date, applied to retrieval scores."""

from __future__ import annotations

import datetime as dt

from articleqa.models import Passage


def recency_factor(published: str, reference: dt.date, half_life_days: float, weight: float) -> float:
    """How much of its score a passage keeps for its age: 1 on the reference date, halving its `weight` share
    every `half_life_days` before it. Undated passages (and articles dated after the reference) keep half the
    share, so a dated recent article beats them and an undated corpus keeps its order."""
    try:
        age = (reference - dt.date.fromisoformat((published or "")[:10])).days
    except ValueError:
        return 1.0 - weight / 2
    if age < 0:
        return 1.0 - weight / 2
    return 1.0 - weight + weight * 0.5 ** (age / half_life_days)


def apply_recency(
    passages: list[Passage], reference: dt.date | None, half_life_days: float, weight: float
) -> list[Passage]:
    """Scale each passage's score by its recency factor and re-sort, best first (unchanged when off).

    Args:
        passages: scored passages.
        reference: the date the question is asked "as of" (None: no prior).
        half_life_days: days after which a passage's recency share halves (<= 0: off).
        weight: share of the score the prior may take away (0: off).
    """
    if reference is None or half_life_days <= 0 or weight <= 0:
        return passages
    for p in passages:
        p.score *= recency_factor(p.date, reference, half_life_days, weight)
    return sorted(passages, key=lambda p: p.score, reverse=True)
