"""The evaluation runner end to end: ingest the corpus into its own collection once, score items, tag and gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evaluation.gates import parse_gates
from evaluation.runner import eval_collection_name, run_eval
from evaluation.testset import load_testset
from tests.conftest import SEED

pytestmark = pytest.mark.slow

ITEMS = [
    {"testset": {"corpus": "articles", "reference_date": "2025-09-05"}},
    {"id": "who", "question": "Who accompanied Kim?", "answers": ["Kim Yo Jong"],
     "gold_files": [SEED.name], "tags": ["who"]},
    {"id": "when", "question": "When did Kim arrive in Beijing?", "answers": ["Tuesday"],
     "gold_files": [SEED.name], "tags": ["when"]},
    {"id": "no-name", "question": "What is the name of Kim's daughter?", "answerable": False, "tags": ["unanswerable"]},
]


@pytest.fixture
def testset_path(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    shutil.copy(SEED, tmp_path / "articles" / SEED.name)
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in ITEMS) + "\n")
    return path


def test_run_scores_items_and_reuses_its_collection(settings, testset_path):
    ts = load_testset(testset_path)
    report = run_eval(ts, settings, progress=False)
    data = report.to_dict()
    m = data["metrics"]
    assert data["items_total"] == 3 and m["errors"] == 0
    assert m["contains"] == 1.0 and m["hit@1"] == 1.0 and m["refusal_rate"] == 1.0 and m["false_refusal_rate"] == 0.0
    assert m["citation_precision"] == 1.0 and m["invalid_citations"] == 0
    assert set(data["tags"]) == {"who", "when", "unanswerable"}
    assert data["settings"]["collection"] == eval_collection_name(ts.corpus, settings)
    assert all(g.check(m) is None for g in parse_gates(["contains=0.9", "invalid_citations=0", "errors=0"]))
    # The corpus is unchanged: the second run ingests nothing and scores the same.
    again = run_eval(load_testset(testset_path), settings, progress=False).to_dict()
    assert data["ingest"]["reused"] is False and again["ingest"]["reused"] is True
    assert again["metrics"]["contains"] == m["contains"]


def test_limit_and_tags_select_items(settings, testset_path):
    report = run_eval(load_testset(testset_path), settings, tags=["who", "when"], limit=1, progress=False)
    assert [r.item.id for r in report.results] == ["who"]


def test_the_eval_collection_follows_the_corpus_content_not_its_mtime(tmp_path):
    import os

    from articleqa.settings import Settings
    from evaluation.runner import corpus_fingerprint

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": "a", "text": "The mayor spoke."}\n')
    settings = Settings()
    before = corpus_fingerprint(corpus, settings)
    os.utime(corpus, (1, 1))  # copied again, same bytes
    assert corpus_fingerprint(corpus, settings) == before
    corpus.write_text('{"id": "a", "text": "The mayor left."}\n')
    assert corpus_fingerprint(corpus, settings) != before
