"""Date phrases in questions become publish-date filters; relative day words resolve against publish dates."""

from __future__ import annotations

from datetime import date

import pytest

from qa.cite import format_date
from qa.dates import question_date_range, resolve_relative_dates, shift, strip_date_phrase

REF = date(2025, 9, 10)  # a Wednesday
D = date


@pytest.mark.parametrize(
    ("question", "start", "end", "phrase"),
    [
        ("What did Xi say last week?", D(2025, 9, 1), D(2025, 9, 7), "last week"),
        ("What happened this week?", D(2025, 9, 8), D(2025, 9, 10), "this week"),
        ("Who spoke yesterday?", D(2025, 9, 9), D(2025, 9, 9), "yesterday"),
        ("What is the news today?", REF, REF, "today"),
        ("What happened last month?", D(2025, 8, 1), D(2025, 8, 31), "last month"),
        ("Any news this month?", D(2025, 9, 1), REF, "this month"),
        ("Who met Kim in September 2025?", D(2025, 9, 1), D(2025, 9, 30), "in September 2025"),
        ("Who met Kim in September?", D(2025, 9, 1), D(2025, 9, 30), "in September"),
        ("What happened in October?", D(2024, 10, 1), D(2024, 10, 31), "in October"),
        ("What changed since March?", D(2025, 3, 1), None, "since March"),
        ("What changed since March 2024?", D(2024, 3, 1), None, "since March 2024"),
        ("What happened before September 4, 2025?", None, D(2025, 9, 3), "before September 4, 2025"),
        ("What happened after 4 September?", D(2025, 9, 5), None, "after 4 September"),
        ("Who visited Beijing in 2025?", D(2025, 1, 1), D(2025, 12, 31), "in 2025"),
        ("What did Xi say on September 4?", D(2025, 9, 4), D(2025, 9, 4), "on September 4"),
        ("What did Xi say on September 4, 2025?", D(2025, 9, 4), D(2025, 9, 4), "on September 4, 2025"),
        (
            "What happened between September 1 and September 5, 2025?",
            D(2025, 9, 1), D(2025, 9, 5), "between September 1 and September 5, 2025",
        ),
        ("What happened last year?", D(2024, 1, 1), D(2024, 12, 31), "last year"),
        ("What happened in the past 3 days?", D(2025, 9, 8), REF, "in the past 3 days"),
        ("What happened in the past two weeks?", D(2025, 8, 28), REF, "in the past two weeks"),
        ("Who accompanied Kim?", None, None, ""),
    ],
)
def test_question_date_range(question: str, start: date | None, end: date | None, phrase: str) -> None:
    assert question_date_range(question, REF) == (start, end, phrase)


def test_strip_date_phrase() -> None:
    assert strip_date_phrase("What did Xi say last week?", "last week") == "What did Xi say?"
    assert strip_date_phrase("In September 2025, who met Kim?", "In September 2025") == "who met Kim?"
    assert strip_date_phrase("Who met Kim?", "") == "Who met Kim?"


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Xi called on Thursday for closer ties.", "Xi called on Thursday (4 September 2025) for closer ties."),
        ("The train left late Thursday night.", "The train left late Thursday night (4 September 2025)."),
        ("Kim arrived on Tuesday, with his daughter.", "Kim arrived on Tuesday (2 September 2025), with his daughter."),
        ("He spoke on Friday.", "He spoke on Friday (5 September 2025)."),
        (
            "He left yesterday and speaks today.",
            "He left yesterday (4 September 2025) and speaks today (5 September 2025).",
        ),
        ("They will meet on Monday.", "They will meet on Monday (8 September 2025)."),
        ("They met on Thursday, September 4, in Beijing.", "They met on Thursday, September 4, in Beijing."),
        ("They met on Thursday (Sept. 4).", "They met on Thursday (Sept. 4)."),
        ('"today\'s great international status"', '"today\'s great international status"'),
    ],
)
def test_resolve_relative_dates(sentence: str, expected: str) -> None:
    assert resolve_relative_dates(sentence, date(2025, 9, 5)) == expected


def test_format_date() -> None:
    assert format_date("2025-09-05") == "5 September 2025"
    assert format_date("2025-09-05T10:00:00Z") == "5 September 2025"
    assert format_date("") == ""
    assert format_date("soon") == "soon"


# --- out of the calendar (bench/hostile_battery.py) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "reference"),
    [
        ("What happened in the past 99999999999 years?", REF),
        ("What happened after December 9999?", REF),
        ("What happened before January 1?", D(1, 1, 1)),
        ("What happened last week?", D(1, 1, 3)),
        ("What happened last year?", D(1, 6, 1)),
        ("What happened yesterday?", D(1, 1, 1)),
        ("What happened this week?", D(9999, 12, 31)),
        ("What happened last month?", D(1, 1, 15)),
    ],
)
def test_phrases_past_the_calendar_clamp_or_filter_nothing(question, reference):
    start, end, _ = question_date_range(question, reference)
    for d in (start, end):
        assert d is None or D(1, 1, 1) <= d <= D(9999, 12, 31)


def test_relative_days_in_articles_dated_at_the_calendar_edges():
    assert resolve_relative_dates("He left yesterday.", D(1, 1, 1)) == "He left yesterday (1 January 1)."
    assert "(31 December 9999)" in resolve_relative_dates("It opens tomorrow.", D(9999, 12, 31))
    assert "Monday (" in resolve_relative_dates("They met on Monday.", D(1, 1, 1))


def test_shift_clamps_to_the_calendar():
    assert shift(D(2025, 1, 1), -10**30) == D(1, 1, 1) and shift(D(2025, 1, 1), 10**30) == D(9999, 12, 31)
    assert shift(D(2025, 1, 1), 1) == D(2025, 1, 2)


def test_publish_window_at_the_calendar_edges():
    from qa.ask import publish_window

    assert publish_window(D(1, 1, 2), D(9999, 12, 30)) == (D(1, 1, 1), D(9999, 12, 31))
