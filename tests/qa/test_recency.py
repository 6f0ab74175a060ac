"""The recency prior relative to the reference date, and questions asked "as of" a date."""

from __future__ import annotations

import datetime as dt

from articleqa.models import Passage
from qa.ask import as_of
from qa.recency import apply_recency, recency_factor
from qa.retrieve import Filters

REF = dt.date(2022, 9, 2)


def _p(pid: str, date: str, score: float) -> Passage:
    return Passage(id=pid, article_id=pid, text="t", position=0, start=0, end=1, date=date, score=score)


def test_factor_halves_the_share_each_half_life() -> None:
    assert recency_factor("2022-09-02", REF, 30, 0.2) == 1.0
    assert abs(recency_factor("2022-08-03", REF, 30, 0.2) - 0.9) < 1e-9
    assert recency_factor("2021-09-02", REF, 30, 0.2) < 0.81
    assert recency_factor("", REF, 30, 0.2) == recency_factor("2022-09-05", REF, 30, 0.2) == 0.9


def test_the_week_of_the_question_beats_last_year_on_a_near_tie() -> None:
    old, new = _p("old", "2021-08-30", 0.80), _p("new", "2022-08-31", 0.76)
    assert [p.id for p in apply_recency([old, new], REF, 30, 0.2)] == ["new", "old"]


def test_off_keeps_the_order() -> None:
    old, new = _p("old", "2021-08-30", 0.80), _p("new", "2022-08-31", 0.76)
    for ref, half_life, weight in ((None, 30, 0.2), (REF, 0, 0.2), (REF, 30, 0.0)):
        assert [p.id for p in apply_recency([old, new], ref, half_life, weight)] == ["old", "new"]
    assert old.score == 0.80


def test_as_of_drops_later_articles_and_sets_the_prior() -> None:
    f = as_of(Filters(source="CNN"), REF)
    assert (f.source, f.since, f.until, f.reference) == ("CNN", None, REF, REF)
    assert as_of(Filters(until=dt.date(2022, 8, 1)), REF).until == dt.date(2022, 8, 1)
    assert as_of(Filters(until=dt.date(2022, 12, 1)), REF).until == REF
    assert as_of(Filters(), None) == Filters()
