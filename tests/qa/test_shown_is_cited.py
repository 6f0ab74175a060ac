"""What is shown is what is cited, over the shared dev sets: every answer segment before its [n] lies inside
citation n's sentence (resolved-date annotations aside)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from articleqa.settings import Settings
from qa.cite import segments_outside
from tests.conftest import SHARED

pytestmark = pytest.mark.slow
N_QUESTIONS = 24  # per set: enough answers to meet headings, captions and multi-sentence quotes


def _questions(name: str) -> list[dict]:
    rows = [json.loads(line) for line in (SHARED / name / "questions.jsonl").read_text().splitlines() if line]
    return rows[:N_QUESTIONS]


@pytest.mark.parametrize("name", ["realtimeqa-dev", "multihop-rag-dev"])
def test_every_segment_lies_inside_its_citation(name, tmp_path, embedder):
    if not (SHARED / name).exists():
        pytest.skip(f"no shared data at {SHARED / name}")
    from ingest.pipeline import Ingestor
    from qa.ask import Asker, Request

    questions = _questions(name)
    gold = {d for q in questions for d in q["gold_doc_ids"]}
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(line + "\n" for line in (SHARED / name / "corpus.jsonl").read_text().splitlines()
                              if json.loads(line)["doc_id"] in gold))
    settings = Settings(store_path=tmp_path / "store", collection="shown")
    assert Ingestor(settings, embedder=embedder).run([str(corpus)]).counts()["added"] >= len(gold) // 2
    asker = Asker(settings)
    answered, outside = 0, []
    for q in questions:
        day = q.get("question_date", "").replace("/", "-")[:10]
        ref = dt.date.fromisoformat(day) if day else None
        answer = asker.ask(Request(q["question"], reference_date=ref))
        if answer.refused or answer.mode == "record":
            continue
        answered += 1
        outside += segments_outside(answer.answer, {c.number: c.quote for c in answer.citations})
    assert answered >= 5
    assert not outside, outside
