"""`articleqa eval` (cli/eval.py) as a subprocess: reports, gates, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEQA_")}
    env.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", ARTICLEQA_STORE_PATH=str(tmp / "store"))
    return subprocess.run([sys.executable, "-m", "articleqa", "eval", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def test_bad_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q", "answer": "A"}\n')
    r = _run(str(bad), tmp=tmp_path)
    assert r.returncode == 2 and "bad.jsonl:1: unknown field 'answer'" in r.stderr
    r = _run("samples/sample_testset.jsonl", "--fail-under", "nonsense=1", tmp=tmp_path)
    assert r.returncode == 2 and "unknown metric" in r.stderr
    r = _run(str(tmp_path / "missing.jsonl"), tmp=tmp_path)
    assert r.returncode == 2


@pytest.mark.slow
def test_sample_eval_end_to_end(tmp_path: Path) -> None:
    out_json, out_html = tmp_path / "run.json", tmp_path / "run.html"
    r = _run("samples/sample_testset.jsonl", "--corpus", "samples/articles", "--json", str(out_json),
             "--html", str(out_html), "--fail-under", "invalid_citations=0", "--fail-under", "hit@5=0.5", "--quiet",
             tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(out_json.read_text())
    assert data["items_total"] >= 25 and data["metrics"]["errors"] == 0
    for name in ("em", "f1", "contains", "mc_accuracy", "hit@1", "mrr@10", "refusal_rate", "false_refusal_rate",
                 "citation_precision", "citation_recall", "invalid_citations"):
        assert data["metrics"][name] is not None, name
    assert data["metrics"]["invalid_citations"] == 0
    assert data["settings"]["collection"].startswith("eval-") and data["ingest"]["reused"] is False
    page = out_html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "src=" not in page

    r = _run("samples/sample_testset.jsonl", "--corpus", "samples/articles", "--compare", str(out_json), "--limit", "5",
             "--json", str(tmp_path / "second.json"), "--fail-under", "contains=1.01", "--quiet", tmp=tmp_path)
    assert r.returncode == 1
    assert "gate failed" in r.stderr and "contains" in r.stderr
    second = json.loads((tmp_path / "second.json").read_text())
    assert second["ingest"]["reused"] is True and second["items_total"] == 5 and "deltas" in second["compare"]
