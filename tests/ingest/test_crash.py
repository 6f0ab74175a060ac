"""Kill ingest with SIGKILL while it writes, re-run, and compare with a clean run: nothing duplicated or lost."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from articleqa.settings import Settings
from articleqa.store import Store

pytestmark = pytest.mark.slow
N_ARTICLES = 120


def _ingest(corpus, store_path, wait=True):
    # Small embedding batches make the run alternate between embedding and writing many times.
    env = {
        **os.environ,
        "ARTICLEQA_STORE_PATH": str(store_path),
        "ARTICLEQA_COLLECTION": "crash",
        "ARTICLEQA_EMBED_BATCH_SIZE": "8",
    }
    cmd = [sys.executable, "-m", "ingest", str(corpus), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err.decode()
    return proc


def _writes(store_path) -> int:
    """How many records Chroma has accepted so far (read from its log, safe while another process writes)."""
    try:
        with sqlite3.connect(f"file:{store_path / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM embeddings_queue").fetchone()[0]
    except sqlite3.Error:
        return 0


def _snapshot(store_path, embedder):
    store = Store(Settings(store_path=store_path, collection="crash"), embedder)
    got = store.passages.get(include=["documents", "metadatas"])
    passages = sorted(zip(got["ids"], got["documents"], [sorted(m.items()) for m in got["metadatas"]], strict=False))
    records = sorted((r.id, r.hash, r.pending, r.passages) for r in store.records().values())
    return passages, records


def test_sigkill_while_writing_then_rerun_equals_clean_run(tmp_path, corpus_file, embedder, cache_rows,
                                                            rebuilt_rows):
    corpus = corpus_file(N_ARTICLES)
    clean_store = tmp_path / "clean"
    _ingest(corpus, clean_store)
    expected = _snapshot(clean_store, embedder)
    assert len(expected[1]) == N_ARTICLES

    killed_store = tmp_path / "killed"
    landed = 0
    for delay in (0.0, 0.05, 0.2, 0.5):
        before = _writes(killed_store)
        proc = _ingest(corpus, killed_store, wait=False)
        deadline = time.monotonic() + 300
        # Kill only once this run is writing, so every kill lands mid-write rather than during model loading.
        while proc.poll() is None and _writes(killed_store) <= before + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            landed += 1
        proc.wait()
    assert landed >= 3, "the ingest finished before it could be killed; the test proved nothing"
    partial = _snapshot(killed_store, embedder)
    assert 0 < len(partial[1]) < N_ARTICLES or any(r[2] for r in partial[1])

    _ingest(corpus, killed_store)
    assert _snapshot(killed_store, embedder) == expected
    # The fingerprint cache the killed runs and the re-run kept equals one rebuilt from the store.
    settings = Settings(store_path=killed_store, collection="crash")
    store = Store(settings, embedder)
    assert cache_rows(settings, store) == rebuilt_rows(settings, store)


def _children(pid: int) -> list[int]:
    """The worker processes of an ingest (multiprocessing's spawned children, not its resource tracker)."""
    try:
        kids = [int(k) for k in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []
    out = []
    for kid in kids:
        try:
            if b"spawn_main" in open(f"/proc/{kid}/cmdline", "rb").read():
                out.append(kid)
        except OSError:
            pass
    return out


def _server_ingest(corpus, server, embed_server, collection, workers=1, wait=True):
    env = {
        **os.environ,
        "ARTICLEQA_CHROMA_URL": server.url,
        "ARTICLEQA_COLLECTION": collection,
        "ARTICLEQA_EMBED_BATCH_SIZE": "8",
        "ARTICLEQA_EMBEDDING_URL": embed_server.url,
        "ARTICLEQA_CACHE_DIR": str(server.path.parent / "cache"),
    }
    cmd = [sys.executable, "-m", "ingest", str(corpus), "--json", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
        return json.loads(out)
    return proc


def _server_snapshot(server, collection, embedder):
    store = Store(Settings(chroma_url=server.url, collection=collection), embedder)
    got = store.passages.get(include=["documents", "metadatas"])
    passages = sorted(zip(got["ids"], got["documents"], [sorted(m.items()) for m in got["metadatas"]], strict=False))
    records = sorted((r.id, r.hash, r.pending, r.passages) for r in store.records().values())
    return passages, records


def test_sigkill_one_worker_then_rerun_equals_clean_run(tmp_path, corpus_file, embedder, chroma_server, embed_server,
                                                        cache_rows, rebuilt_rows):
    corpus = corpus_file(N_ARTICLES)
    clean = _server_ingest(corpus, chroma_server, embed_server, "clean-serial")
    assert clean["counts"]["added"] == N_ARTICLES
    expected = _server_snapshot(chroma_server, "clean-serial", embedder)

    sqlite = chroma_server.path  # the server's own folder: its write log counts every accepted record
    died = 0
    for delay in (0.0, 0.3):
        before = _writes(sqlite)
        proc = _server_ingest(corpus, chroma_server, embed_server, "killed-worker", workers=2, wait=False)
        deadline = time.monotonic() + 300
        while proc.poll() is None and _writes(sqlite) <= before + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        workers = _children(proc.pid)
        if proc.poll() is None and workers:
            os.kill(workers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=900)
        report = json.loads(out)  # one valid JSON summary for the whole run, dead worker or not
        lost = [i for i in report["items"] if "died (killed by signal 9)" in i["reason"]]
        assert proc.returncode == (1 if lost else 0), err
        died += bool(lost)
    assert died, "no kill landed while a worker had articles in hand; the test proved nothing"

    rerun = _server_ingest(corpus, chroma_server, embed_server, "killed-worker", workers=2)
    assert rerun["ok"] and rerun["counts"]["failed"] == 0
    assert _server_snapshot(chroma_server, "killed-worker", embedder) == expected
    settings = chroma_server.settings("killed-worker")  # the cache folder the ingests used (_server_ingest)
    store = Store(settings, embedder)
    assert cache_rows(settings, store) == rebuilt_rows(settings, store)


def test_workers_need_a_server(tmp_path, corpus_file):
    got = subprocess.run([sys.executable, "-m", "ingest", str(corpus_file(2)), "--store", str(tmp_path / "s"),
                          "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert got.returncode == 2 and "--workers needs a Chroma server" in got.stderr
    assert not (tmp_path / "s" / "chroma.sqlite3").exists()
