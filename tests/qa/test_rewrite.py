"""Follow-up rewriting over a conversation about the seed article (rules, and an LLM with rule fallback)."""

from __future__ import annotations

import statistics
import time

import pytest

from articleqa.settings import Settings
from qa.rewrite import QueryRewriter, looks_like_follow_up, strip_citations

ACCOMPANY = (
    "Who accompanied Kim?",
    "Those accompanying him included his sister Kim Yo Jong, a ruling Workers' Party official who has been a "
    "fixture in leader Kim's inner circle and often speaks for him on external affairs [1].",
)
XI_SAID = (
    "What did Xi say about North Korea?",
    'Xi called the two countries "good neighbors, good friends and good comrades that share a common destiny" [1].',
)
ARRIVED = ("Where did Kim arrive?", "Kim arrived in Beijing on his signature green armoured train on Tuesday [2].")
WHY_MEET = ("Why did Xi meet Kim Jong Un?", "Xi called for closer coordination with North Korea [1][2].")


@pytest.fixture(scope="module")
def rewriter() -> QueryRewriter:
    r = QueryRewriter(Settings())
    r.warm()
    return r


# (history, follow-up, words the rewrite must contain (case-insensitive), words it must not contain)
CASES = [
    ([ACCOMPANY], "What does she do?", ["Kim Yo Jong", "do"], ["she"]),
    ([ACCOMPANY], "What did she say?", ["Kim Yo Jong", "say"], []),
    ([ACCOMPANY], "And the daughter?", ["daughter", "Kim", "accompan"], []),
    ([ACCOMPANY], "What about the daughter?", ["daughter", "Kim", "accompan"], []),
    ([ACCOMPANY], "Where was he?", ["Where", "Kim"], ["Yo Jong", " he?"]),
    ([ACCOMPANY], "When?", ["When", "accompany", "Kim"], []),
    ([ACCOMPANY], "When did that happen?", ["When", "accompany", "Kim"], ["that"]),
    ([XI_SAID], "What about Putin?", ["Putin", "say", "North Korea"], ["Xi"]),
    ([XI_SAID], "And Putin?", ["Putin", "say", "North Korea"], ["Xi"]),
    ([XI_SAID], "What did he say about Russia?", ["Xi", "Russia"], []),
    ([ARRIVED], "What happened there?", ["Beijing"], ["there"]),
    ([WHY_MEET], "When?", ["When", "Xi", "meet", "Kim Jong Un"], ["Why"]),
    ([WHY_MEET], "Why?", ["Why", "Xi", "Kim Jong Un"], []),
    ([WHY_MEET], "What did they agree?", ["Xi", "Kim Jong Un", "agree"], ["they"]),
    ([ACCOMPANY], "And why did she come?", ["Why", "Kim Yo Jong", "come"], []),
    # Chained follow-ups: the previous follow-up is resolved first.
    ([ACCOMPANY, ("And the daughter?", "Kim arrived along with his teenage daughter [1].")], "Why?",
     ["Why", "daughter", "accompany"], []),
    ([ACCOMPANY, ("What about Putin?", "Putin attended the parade [1].")], "Where was he?", ["Putin"], []),
]


@pytest.mark.parametrize(("history", "question", "must", "must_not"), CASES, ids=[c[1] for c in CASES])
def test_follow_ups_become_self_contained(rewriter, history, question, must, must_not):
    out = rewriter.run(question, history)
    for word in must:
        assert word.lower() in out.lower(), f"{question!r} -> {out!r} lacks {word!r}"
    for word in must_not:
        assert word.lower() not in out.lower(), f"{question!r} -> {out!r} still has {word!r}"
    assert "[" not in out  # citation markers from answers never leak into queries


@pytest.mark.parametrize(
    "question",
    [
        "What is North Korea's largest trading partner?",
        "Who is Kim Yo Jong?",
        "When did Kim Jong Un arrive in Beijing?",
        "Is there a military parade in Beijing?",
        "What did Xi Jinping say when he met Kim Jong Un?",
    ],
)
def test_self_contained_questions_are_unchanged(rewriter, question):
    assert rewriter.run(question, [ACCOMPANY, XI_SAID]) == question


def test_no_history_returns_question_unchanged(rewriter):
    assert rewriter.run("What does she do?", []) == "What does she do?"


def test_strip_citations():
    assert strip_citations("He left [1]. She stayed [2][3] and [4, 5].") == "He left. She stayed and."


def test_looks_like_follow_up():
    assert looks_like_follow_up("And the daughter?")
    assert looks_like_follow_up("Why?")
    assert looks_like_follow_up("What did she say about the talks in Beijing?")
    assert not looks_like_follow_up("What is North Korea's largest trading partner?")


def test_rules_are_fast_when_warm(rewriter):
    history = [ACCOMPANY, XI_SAID]
    rewriter.run("What does she do?", history)
    runs = []
    for question in ["What does she do?", "And the daughter?", "When?", "Where was he?"] * 5:
        t = time.perf_counter()
        rewriter.run(question, history)
        runs.append(time.perf_counter() - t)
    assert statistics.median(runs) < 0.05


