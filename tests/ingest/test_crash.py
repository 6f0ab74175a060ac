"""Kill ingest with SIGKILL at several moments, re-run, and compare with a clean run: nothing duplicated or lost."""

import os
import signal
import subprocess
import sys
import time

import pytest

from articleqa.settings import Settings
from articleqa.store import Store

pytestmark = pytest.mark.slow


def _ingest(corpus, store_path, wait=True):
    env = {**os.environ, "ARTICLEQA_STORE_PATH": str(store_path), "ARTICLEQA_COLLECTION": "crash"}
    cmd = [sys.executable, "-m", "ingest", str(corpus), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
    return proc


def _snapshot(store_path, embedder):
    store = Store(Settings(store_path=store_path, collection="crash"), embedder)
    got = store.passages.get(include=["documents", "metadatas"])
    passages = sorted(zip(got["ids"], got["documents"], [sorted(m.items()) for m in got["metadatas"]], strict=False))
    records = sorted((r.id, r.hash, r.pending, r.passages) for r in store.records().values())
    return passages, records


def test_sigkill_at_any_moment_then_rerun_equals_clean_run(tmp_path, corpus_file, embedder):
    corpus = corpus_file(120)
    clean_store = tmp_path / "clean"
    _ingest(corpus, clean_store)
    expected = _snapshot(clean_store, embedder)
    assert len(expected[1]) == 120

    killed_store = tmp_path / "killed"
    partial_states = 0
    for delay in (5.0, 7.0, 9.0, 11.0, 14.0):
        proc = _ingest(corpus, killed_store, wait=False)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            n = len(_snapshot(killed_store, embedder)[1])
            partial_states += 0 < n < 120
    _ingest(corpus, killed_store)
    assert _snapshot(killed_store, embedder) == expected
    assert partial_states >= 1, "no kill landed while articles were being written; the test proved nothing"
