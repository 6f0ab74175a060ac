"""Question analysis: named publications (stored or not), dates, answer kinds and the per-report retrieval steps."""

from __future__ import annotations

import datetime as dt

from qa.plan import QuestionPlanner, answer_kind, question_dates, source_aliases

SOURCES = ["Harbour Gazette", "Valley Times | Local News Leader", "The Daily Ledger - Sport", "The Daily Ledger - Arts",
           "Metroline.com"]


def test_aliases_drop_taglines_the_and_dotcom() -> None:
    assert {"Valley Times", "Valley Times | Local News Leader"} <= source_aliases("Valley Times | Local News Leader")
    assert {"Daily Ledger", "The Daily Ledger"} <= source_aliases("The Daily Ledger - Sport")
    assert "Metroline" in source_aliases("Metroline.com")


def test_two_stored_publications_make_a_multi_article_plan_with_one_step_each() -> None:
    plan = QuestionPlanner(SOURCES).run(
        "Does the Harbour Gazette article on the ferry strike and the Valley Times report on bus fares both say "
        "that prices rose?")
    assert plan.multi_article and plan.answer_kind == "yes_no" and not plan.unknown_sources
    assert [s.sources for s in plan.steps] == [["Harbour Gazette"], ["Valley Times | Local News Leader"]]
    assert "ferry strike" in plan.steps[0].query and "bus fares" in plan.steps[1].query


def test_dates_attach_to_the_report_they_follow() -> None:
    plan = QuestionPlanner(SOURCES).run(
        "Between the Harbour Gazette report published on October 3, 2023, and the Metroline.com report on "
        "2023-11-20, was the mayor's stance consistent?")
    assert plan.multi_article and plan.answer_kind == "yes_no"
    assert question_dates(plan.question) == [dt.date(2023, 10, 3), dt.date(2023, 11, 20)]
    (a, b) = plan.steps
    assert (a.sources, a.since, a.until) == (["Harbour Gazette"], dt.date(2023, 10, 2), dt.date(2023, 10, 4))
    assert (b.sources, b.since) == (["Metroline.com"], dt.date(2023, 11, 19))


def test_one_publication_with_two_dates_gets_a_step_per_date() -> None:
    plan = QuestionPlanner(SOURCES).run(
        "Has the Harbour Gazette's view of the port changed between the article from October 1, 2023 and the one "
        "from November 5, 2023?")
    assert plan.multi_article
    assert sorted(s.since for s in plan.steps) == [dt.date(2023, 9, 30), dt.date(2023, 11, 4)]


def test_a_publication_the_store_lacks_is_named_as_unknown() -> None:
    plan = QuestionPlanner(SOURCES).run(
        "Which city, according to a Northwind Courier article and the Harbour Gazette, hosted the fair?")
    assert plan.multi_article and plan.unknown_sources == ["Northwind Courier"]
    # What a report is about is not a publication.
    topic = QuestionPlanner(SOURCES).run("Did the Harbour Gazette report on Acme Corp's results and the Valley "
                                         "Times article on the same company agree?")
    assert topic.unknown_sources == []


def test_ambiguous_short_name_stands_for_every_matching_source() -> None:
    plan = QuestionPlanner(SOURCES).run("Did The Daily Ledger and the Harbour Gazette both report the closure?")
    assert plan.steps[0].sources == ["The Daily Ledger - Arts", "The Daily Ledger - Sport"]


def test_single_article_questions_get_no_plan() -> None:
    planner = QuestionPlanner(SOURCES)
    for q in ("Who accompanied Kim?", "What did the mayor say last week?",
              "Who wrote the article about the ferry strike?", "Which newspaper published the story about the fair?"):
        assert not planner.run(q).multi_article, q
    assert not QuestionPlanner([]).run("Did the Gazette and the Times both say so?").multi_article


def test_answer_kinds() -> None:
    assert answer_kind("Did the two reports agree?") == "yes_no"
    assert answer_kind("Which company did both reports name?") == "name"
    assert answer_kind("Was the Gazette report published before or after the Times one?") == "before_after"
    assert answer_kind("Between the Gazette report and the Times report, was there a change?") == "yes_no"
