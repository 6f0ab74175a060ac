"""MultiHop-RAG test sets: format detection, evidence-level hits (what "containing a fact" means), accuracy."""

from __future__ import annotations

import json
from pathlib import Path

from articleqa.models import Answer, Passage
from evaluation import metrics as M
from evaluation.evidence import answer_accuracy, contains_fact, evidence_rank, facts_found
from evaluation.testset import detect_format, load_testset

FACT = "The bakery sold 4,000 loaves on its first weekend."


def _rec(qid: str, kind: str, answers: list[str], facts: list[str]) -> dict:
    return {"qid": qid, "question": f"Did both reports say {qid}?", "answers": answers, "is_impossible": not answers,
            "gold_doc_ids": ["d1", "d2"] if answers else [], "question_type": f"{kind}_query",
            "evidence": [{"doc_id": "d1", "fact": f} for f in facts]}


def test_multihop_format_is_detected_and_converted(tmp_path: Path) -> None:
    rows = [_rec("q1", "comparison", ["Yes"], [FACT]), _rec("q2", "null", [], [])]
    f = tmp_path / "questions.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "corpus.jsonl").write_text("{}\n")
    assert detect_format(rows[0]) == "multihop"
    ts = load_testset(f)
    a, b = ts.items
    assert ts.format == "multihop" and ts.corpus == tmp_path / "corpus.jsonl"
    assert (a.tags, a.answers, a.answerable, a.evidence_facts) == (["multihop", "comparison"], ["Yes"], True, [FACT])
    assert (b.tags, b.answerable, b.answers) == (["multihop", "null"], False, [])


def test_fact_containment_verbatim_spacing_quotes_and_split_sentences() -> None:
    assert contains_fact("Before that. The bakery  sold 4,000\nloaves on its first weekend. After.", FACT)
    assert contains_fact("“It’s here,” she said.", '"It\'s here," she said.')
    # The chunker cut the last words off into the next passage: most of the fact is still here.
    assert contains_fact("The bakery sold 4,000 loaves on its first", FACT)
    assert not contains_fact("The bakery opened on its first weekend.", FACT)
    assert not contains_fact("anything", "")


def test_evidence_rank_and_share_found() -> None:
    passages = ["Nothing here.", "Still nothing.", f"So: {FACT}", "Second fact is here too."]
    assert evidence_rank(passages, [FACT, "Second fact is here too."]) == 3
    assert evidence_rank(passages, [FACT], depth=2) == 0
    assert facts_found(passages, [FACT, "Second fact is here too.", "Missing one."]) == 2 / 3


def test_accuracy_verdicts_count_only_as_the_answers_own_verdict() -> None:
    assert answer_accuracy(True, False, ["Yes"], "Yes", "Yes: both say so. No one disagreed.") == 1.0
    # "no" inside a quoted sentence is not a "No" verdict.
    assert answer_accuracy(True, False, ["no"], "Yes", "Yes: both say so. There was no delay.") == 0.0
    assert answer_accuracy(True, False, ["Caesars Sportsbook"], "", "Caesars Sportsbook offers ...") == 1.0
    assert answer_accuracy(True, True, ["Yes"], "", "") == 0.0
    assert answer_accuracy(False, True, [], "", "") == 1.0 and answer_accuracy(False, False, [], "A", "A") == 0.0


def test_score_item_and_summary_report_evidence_metrics(tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps(_rec("q1", "comparison", ["Yes"], [FACT])) + "\n")
    item = load_testset(f).items[0]
    retrieved = [Passage(f"p{i}", "d1", t, i, 0, len(t)) for i, t in enumerate(["Other text.", f"{FACT} More."])]
    answer = Answer(question=item.question, answer="Yes: both say so.", short_answer="Yes")
    s = M.score_item(item, answer, retrieved, {"d1", "d2"})
    assert (s.evidence_rank, s.accuracy, s.recall[10]) == (2, 1.0, 0.5)
    metrics, n = M.summarize([s])
    assert metrics["evidence_hit@4"] == 1.0 and metrics["evidence_mrr@10"] == 0.5 and n["evidence_hit@10"] == 1
    plain = M.summarize([M.ItemScores(answerable=True, refused=False)])[0]
    assert "evidence_hit@10" not in plain  # sets without evidence sentences do not grow evidence metrics
