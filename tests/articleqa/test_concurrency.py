"""Questions keep working while articles arrive on the default embedded store (real processes; figures in
bench/concurrency.py): no question is refused, the ingest completes, the store equals a clean run."""

from __future__ import annotations

import pytest

from bench.concurrency import run_scenario

pytestmark = pytest.mark.slow


def test_questions_answered_while_an_ingest_writes(tmp_path):
    out = run_scenario(tmp_path / "work", articles=10, loops=2, seed=3, sentences=30, idle_runs=1)
    assert out.ingest_rc == 0, out.ingest_err
    assert out.asks, "no question ran during the ingest"
    refused = [(q, rc, err) for q, rc, _, err in out.asks if rc not in (0, 3)]
    assert not refused, refused
    assert out.store_equal, out.store_diff
    assert "throughout" in out.daemon, out.daemon  # one answer daemon answered every question
