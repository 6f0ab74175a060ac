"""The test-set format: parsing, validation messages (file:line), YAML, and auto-detection of the shared formats."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from evaluation.testset import TestSetError, detect_format, load_testset

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_jsonl_items_header_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "arts").mkdir()
    f = _write(tmp_path / "t.jsonl", [
        {"testset": {"corpus": "arts", "reference_date": "2025-09-05"}},
        {"id": "q1", "question": "Who?", "answers": "Kim", "tags": "who, people", "gold_files": ["a.txt"]},
        "",
        {"question": "Name of the daughter?", "answerable": False,
         "history": [["Who?", "Kim"], {"question": "And?", "answer": "x"}]},
        {"id": 7, "question": "Where?", "choices": ["A", "B"], "answer_index": 1, "reference_date": "2022/06/16"},
    ])
    ts = load_testset(f)
    assert ts.corpus == (tmp_path / "arts").resolve() and ts.reference_date == dt.date(2025, 9, 5)
    a, b, c = ts.items
    assert (a.answers, a.tags, a.scores_open, a.line) == (["Kim"], ["who", "people"], True, 2)
    assert (b.id, b.answerable, b.history) == ("t-4", False, [("Who?", "Kim"), ("And?", "x")])
    assert (c.id, c.answerable, c.scores_open, c.correct_choice) == ("7", True, False, "B")
    assert c.reference_date == dt.date(2022, 6, 16)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x"}', "t.jsonl:2: 'question' is required"),
        ('{"question": "Q", "answer": "A"}', "t.jsonl:2: unknown field 'answer' (did you mean 'answers'?)"),
        ('{"question": "Q", "choices": ["A", "B"], "answer_index": 2}', "t.jsonl:2: 'answer_index' must be"),
        ('{"question": "Q", "answers": ["A"], "answerable": false}', "t.jsonl:2: 'answerable: false' contradicts"),
        ('{"question": "Q", "reference_date": "yesterday"}', "t.jsonl:2: 'reference_date' must be a date"),
        ('{"question": "Q", "history": ["just text"]}', "t.jsonl:2: history turn 1"),
        ('{"question": "Q", "answers": [1, {"a": 2}]}', "t.jsonl:2: 'answers' must be a list"),
        ('{"question": "Q",', "t.jsonl:2: invalid JSON"),
        ('{"id": "q1", "question": "Again"}', "t.jsonl:2: duplicate id 'q1' (first at line 1)"),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text('{"id": "q1", "question": "Who?"}\n' + line + "\n")
    with pytest.raises(TestSetError) as err:
        load_testset(f)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_corpus_and_empty_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "t.jsonl", [{"testset": {"corpus": "nope"}}, {"question": "Q"}])
    with pytest.raises(TestSetError, match="t.jsonl:1: corpus 'nope' not found"):
        load_testset(f)
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(TestSetError, match="no test items"):
        load_testset(tmp_path / "e.jsonl")


def test_yaml_with_header_and_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text("{}\n")
    f = tmp_path / "t.yaml"
    f.write_text(
        "corpus: c.jsonl\nreference_date: 2025-09-05\nitems:\n"
        "  - id: a\n    question: When did they meet?\n    answers: [Thursday]\n"
        "  - id: b\n    question: Who?\n    answers: [Kim]\n    anwsers: [x]\n"
    )
    with pytest.raises(TestSetError, match=r"t.yaml:7: unknown field 'anwsers'"):
        load_testset(f)
    f.write_text(f.read_text().replace("    anwsers: [x]\n", ""))
    ts = load_testset(f)
    assert ts.corpus == (tmp_path / "c.jsonl").resolve() and ts.reference_date == dt.date(2025, 9, 5)
    assert [(i.id, i.line) for i in ts.items] == [("a", 4), ("b", 7)]


def test_detect_format() -> None:
    rtqa = {"qid": "1", "question": "q", "question_date": "2022/06/16", "answer_index": 0}
    assert detect_format(rtqa) == "realtimeqa"
    assert detect_format({"qid": "1", "question": "q", "answers": [], "is_impossible": True}) == "squad"
    assert detect_format({"id": "1", "question": "q", "answers": []}) == "articleqa"


def _head(src: Path, dst: Path, n: int = 5) -> Path:
    with src.open() as fh:
        dst.write_text("".join(next(fh) for _ in range(n)))
    return dst


@pytest.mark.skipif(not (SHARED / "realtimeqa-dev" / "questions.jsonl").is_file(), reason="shared data absent")
def test_realtimeqa_file_is_converted(tmp_path: Path) -> None:
    ts = load_testset(_head(SHARED / "realtimeqa-dev" / "questions.jsonl", tmp_path / "questions.jsonl"))
    assert ts.format == "realtimeqa" and len(ts.items) == 5 and ts.corpus is None  # no sibling corpus in tmp
    item = ts.items[0]
    assert item.is_multiple_choice and item.reference_date is not None and item.gold_doc_ids
    assert item.answers and "realtimeqa" in item.tags
    full = load_testset(SHARED / "realtimeqa-dev" / "questions.jsonl")
    assert full.corpus == SHARED / "realtimeqa-dev" / "corpus.jsonl"
    assert any(not i.scores_open for i in full.items)  # answer_in_gold_text false: multiple choice only


@pytest.mark.skipif(not (SHARED / "squad2-dev" / "questions.jsonl").is_file(), reason="shared data absent")
def test_squad_file_is_converted(tmp_path: Path) -> None:
    ts = load_testset(_head(SHARED / "squad2-dev" / "questions.jsonl", tmp_path / "questions.jsonl", 40))
    assert ts.format == "squad"
    impossible = [i for i in ts.items if not i.answerable]
    possible = [i for i in ts.items if i.answerable]
    assert impossible and possible
    assert all(not i.answers and "unanswerable" in i.tags for i in impossible)
    assert all(i.answers and i.gold_doc_ids and len(set(i.answers)) == len(i.answers) for i in possible)


def test_bundled_sample_testset_is_valid() -> None:
    ts = load_testset(Path(__file__).resolve().parents[2] / "samples" / "sample_testset.jsonl")
    assert len(ts.items) >= 25 and ts.corpus is not None
    tags = set(ts.tags())
    assert {"who", "what", "when", "where", "why", "follow-up", "multiple-choice", "unanswerable"} <= tags
    assert any(i.history for i in ts.items) and any(not i.answerable for i in ts.items)
