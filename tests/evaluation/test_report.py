"""Reports: JSON round trip, deltas, and a self-contained, escaped HTML page (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

from articleqa.models import Answer, Citation, Passage
from evaluation import metrics as M
from evaluation.report import deltas, load_previous, render_html, write_json
from evaluation.runner import EvalReport, GoldResolver, ItemResult
from evaluation.testset import TestItem

EVIL = "<script>alert('x')</script>"


def _report() -> EvalReport:
    p = Passage(id="p1", article_id="a1", text=f"Kim met Xi. {EVIL}", position=0, start=0, end=10, title=EVIL)
    c = Citation(number=1, passage_id="p1", article_id="a1", title=EVIL, source="", date="", url="",
                 quote="Kim met Xi.", start=0, end=11, passage_text=p.text)
    good = Answer(question="Who met Xi?", answer="Kim met Xi [1].", short_answer="Kim", citations=[c], passages=[p],
                  timings={"total": 0.2, "extract": 0.1})
    wrong = Answer(question=EVIL, answer=f"{EVIL} [1] [3]", citations=[c], passages=[p], timings={"total": 0.5})
    items = [TestItem(id="ok", question="Who met Xi?", answers=["Kim"], tags=["who"], gold_doc_ids=["a1"]),
             TestItem(id="bad", question=EVIL, answers=["Putin"], tags=[EVIL], gold_doc_ids=["zz"])]
    results = []
    for item, ans in zip(items, [good, wrong], strict=True):
        gold = set(item.gold_doc_ids)
        results.append(ItemResult(item, ans, [p], sorted(gold), M.score_item(item, ans, [p], gold)))
    report = EvalReport(testset="t.jsonl", format="articleqa", results=results, created="2025-09-05T00:00:00+00:00",
                        settings={"mode": "extractive", "collection": "eval-x", "embedding_model": "m"})
    report.compute()
    return report


def test_report_metrics_failures_and_json_round_trip(tmp_path: Path) -> None:
    data = _report().to_dict()
    assert data["metrics"]["contains"] == 0.5 and data["metrics"]["invalid_citations"] == 1.0
    assert data["metrics"]["hit@1"] == 0.5 and data["items_failed"] == 1
    assert data["ci"]["contains"][0] <= 0.5 <= data["ci"]["contains"][1]
    assert data["tags"]["who"]["passed"] == 1 and "latency_p95_total" in data["metrics"]
    write_json(data, tmp_path / "r.json")
    again = load_previous(tmp_path / "r.json")
    assert again["metrics"] == json.loads(json.dumps(data["metrics"]))
    assert deltas({"contains": 0.7, "f1": None}, again) == {"contains": 0.7 - 0.5}


def test_html_is_self_contained_and_escaped() -> None:
    data = _report().to_dict()
    page = render_html(data, previous={"metrics": {"contains": 0.25}})
    assert EVIL not in page and "&lt;script&gt;" in page
    assert "<svg" in page and "<style>" in page
    for external in ("<link", "src=", "@import", "<script"):
        assert external not in page
    assert "+0.250" in page  # delta against the previous run


def test_gold_resolver_follows_aliases_and_file_origins() -> None:
    from articleqa.store import ArticleRecord

    records = {"kept": ArticleRecord(id="kept", origin="/x/articles/a.txt", aliases=["dup"], title="A Title")}
    r = GoldResolver(records, {"/x/articles/b.txt": "dup"})
    assert r.resolve(TestItem(id="1", question="q", gold_doc_ids=["dup"])) == ({"kept"}, [])
    assert r.resolve(TestItem(id="2", question="q", gold_files=["articles/a.txt"])) == ({"kept"}, [])
    assert r.resolve(TestItem(id="3", question="q", gold_files=["b.txt"])) == ({"kept"}, [])
    assert r.resolve(TestItem(id="4", question="q", gold_titles=["a title"])) == ({"kept"}, [])
    gold, missing = r.resolve(TestItem(id="5", question="q", gold_files=["c.txt"], gold_doc_ids=["nope"]))
    assert len(missing) == 2
