"""Metric definitions: SQuAD EM/F1, contains, retrieval ranks, citations, multiple choice, bootstrap, gates."""

from __future__ import annotations

import pytest

from articleqa.models import Answer, Citation, Passage
from evaluation import metrics as M
from evaluation.gates import parse_gates
from evaluation.testset import TestItem


@pytest.mark.parametrize(
    ("pred", "answers", "em", "f1"),
    [
        ("Kim Yo Jong", ["Kim Yo Jong"], 1.0, 1.0),
        ("the Great Hall of the People.", ["Great Hall of the People"], 1.0, 1.0),
        ("“Squid Game”", ["Squid Game"], 1.0, 1.0),
        ("his sister Kim Yo Jong", ["Kim Yo Jong"], 0.0, 0.75),  # P 3/5, R 1
        ("Putin", ["Vladimir Putin", "Putin"], 1.0, 1.0),
        ("Beijing", ["Pyongyang"], 0.0, 0.0),
        ("", ["Beijing"], 0.0, 0.0),
        ("anything", [], 0.0, 0.0),
    ],
)
def test_em_f1_table(pred: str, answers: list[str], em: float, f1: float) -> None:
    assert M.exact_match(pred, answers) == em
    assert M.token_f1(pred, answers) == pytest.approx(f1)


def test_contains_respects_word_boundaries() -> None:
    assert M.contains_answer("Kim met Vladimir Putin on Wednesday.", ["Putin"]) == 1.0
    assert M.contains_answer("It happened in 2019.", ["19"]) == 0.0
    assert M.contains_answer("Thursday (4 September 2025)", ["4 September 2025"]) == 1.0


def test_answer_body_strips_markers_and_published_line() -> None:
    text = "Kim arrived on Tuesday [1]. He left [2].\n(Published: Japan Today, 5 September 2025.)"
    a = Answer(question="q", answer=text)
    assert M.answer_body(a) == "Kim arrived on Tuesday. He left."


@pytest.mark.parametrize(
    ("ids", "rank", "rr"),
    [(["g", "x", "y"], 1, 1.0), (["x", "y", "g"], 3, 1 / 3), (["x"] * 10 + ["g"], 0, 0.0), ([], 0, 0.0)],
)
def test_first_gold_rank_and_mrr(ids: list[str], rank: int, rr: float) -> None:
    assert M.first_gold_rank(ids, {"g"}) == rank
    scores = [M.ItemScores(answerable=True, refused=False, gold_rank=rank, recall={5: 0.0, 10: 0.0})]
    metrics, _ = M.summarize(scores)
    assert metrics["mrr@10"] == pytest.approx(rr)
    assert metrics["hit@1"] == float(rank == 1)
    assert metrics["hit@10"] == float(rank > 0)


def test_recall_counts_each_gold_article_once() -> None:
    assert M.recall_at(["a", "a", "b", "c"], {"a", "c", "z"}, 3) == pytest.approx(1 / 3)
    assert M.recall_at(["a", "a", "b", "c"], {"a", "c", "z"}, 4) == pytest.approx(2 / 3)


def test_bootstrap_is_deterministic_and_brackets_the_mean() -> None:
    values = [1.0] * 30 + [0.0] * 10
    a, b = M.bootstrap_ci(values), M.bootstrap_ci(values)
    assert a == b
    assert a[0] < 0.75 < a[1]
    assert M.bootstrap_ci([]) is None
    assert M.bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)


def _passage(pid: str, text: str, article: str = "art-1") -> Passage:
    return Passage(id=pid, article_id=article, text=text, position=0, start=0, end=len(text))


def _citation(n: int, quote: str, passage: Passage) -> Citation:
    return Citation(number=n, passage_id=passage.id, article_id=passage.article_id, title="", source="", date="",
                    url="", quote=quote, start=0, end=0, passage_text=passage.text)


def test_invalid_citations_finds_dangling_numbers_and_foreign_quotes() -> None:
    p = _passage("p1", "Kim arrived in Beijing on Tuesday. He met Xi on Thursday.")
    cite = _citation(1, "Kim arrived in Beijing on Tuesday.", p)
    good = Answer(question="q", answer="Kim arrived on Tuesday [1].", citations=[cite])
    assert M.invalid_citations(good) == []
    foreign = _citation(1, "Kim flew to Seoul.", p)
    bad = Answer(question="q", answer="Kim arrived [1]. He left [2].", citations=[foreign])
    problems = M.invalid_citations(bad)
    assert len(problems) == 2
    assert any("[2]" in x for x in problems) and any("not found" in x for x in problems)


def test_citation_precision_and_recall() -> None:
    gold_p = _passage("p1", "Those accompanying him included his sister Kim Yo Jong.", "gold")
    other = _passage("p2", "China is the largest trading partner.", "other")
    cites = [_citation(1, gold_p.text, gold_p), _citation(2, other.text, other)]
    a = Answer(question="q", answer="x [1] y [2]", citations=cites)
    assert M.citation_precision(a, ["Kim Yo Jong"], set()) == 0.5
    assert M.citation_precision(a, [], {"gold", "other"}) == 1.0
    assert M.cites_gold_article(a, {"gold"}) == 1.0
    assert M.citation_precision(Answer(question="q", answer="none"), ["x"], set()) is None


def test_pick_choice_prefers_the_supported_option_over_shared_words() -> None:
    units = [("Netflix announced the hit South Korean show Squid Game is coming back for a second season.", 1.0)]
    pick = M.pick_choice("Which popular show was green lit for a new season?",
                         ["Game of Thrones", "Squid Game", "Breaking Bad", "Friends"], units)
    assert pick.index == 1


def test_pick_choice_uses_question_relevance() -> None:
    units = [("Kim met Putin in Moscow last year.", 0.6), ("Xi and Kim met at the Great Hall of the People.", 0.6)]
    pick = M.pick_choice("Where did Xi and Kim meet?", ["Moscow", "The Great Hall of the People", "Seoul"], units)
    assert pick.index == 1


def test_score_item_open_mc_and_refusal() -> None:
    p = _passage("p1", "Kim arrived in Beijing on his green armoured train on Tuesday.", "gold")
    answer = Answer(question="q", answer="Kim arrived in Beijing on his green armoured train on Tuesday [1].",
                    short_answer="Tuesday", citations=[_citation(1, p.text, p)], passages=[p])
    item = TestItem(id="a", question="How did Kim travel to Beijing?", answers=["green armoured train"],
                    choices=["By plane", "On his green armoured train"], answer_index=1)
    s = M.score_item(item, answer, [p], {"gold"})
    assert (s.contains, s.em, s.mc_correct, s.gold_rank, s.citation_recall, s.invalid) == (1.0, 0.0, 1.0, 1, 1.0, [])
    refused = Answer(question="q", answer="The ingested articles do not answer this question.", refused=True)
    s2 = M.score_item(TestItem(id="b", question="Name of the daughter?", answerable=False), refused, [], set())
    metrics, n = M.summarize([s, s2])
    assert metrics["refusal_rate"] == 1.0 and metrics["false_refusal_rate"] == 0.0 and n["refusal_rate"] == 1


def test_parse_gates_directions() -> None:
    gates = parse_gates(["contains=0.8,invalid_citations=0", "f1>=0.4", "latency_p95_total=2"])
    assert [(g.metric, g.op, g.value) for g in gates] == [
        ("contains", ">=", 0.8), ("invalid_citations", "<=", 0.0), ("f1", ">=", 0.4), ("latency_p95_total", "<=", 2.0)
    ]
    assert gates[0].check({"contains": 0.9}) is None
    assert "must be >= 0.8" in gates[0].check({"contains": 0.7})
    assert "not measured" in gates[0].check({"contains": None})
    with pytest.raises(ValueError):
        parse_gates(["contains"])
