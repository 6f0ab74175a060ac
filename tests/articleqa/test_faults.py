"""Faults with real processes: Chroma server killed mid-ingest or down at query time, disk full, read-only store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from articleqa.settings import Settings
from articleqa.store import Store, StoreError
from qa.ask import Asker
from tests.conftest import REPO, SEED, make_article

pytestmark = pytest.mark.slow
N_ARTICLES = 60


def ingest(corpus: Path, env: dict[str, str], wait: bool = True) -> subprocess.Popen:
    """`python -m ingest corpus --quiet` in its own process (stderr kept for the assertions)."""
    proc = subprocess.Popen([sys.executable, "-m", "ingest", str(corpus), "--quiet"], cwd=REPO, text=True,
                            env={**os.environ, "ARTICLEQA_EMBED_BATCH_SIZE": "8", **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if wait:
        proc.wait(timeout=600)
    return proc


def snapshot(settings: Settings, embedder) -> tuple[list, list]:
    """Passages (id, text, metadata) and records (id, hash, pending, passages), sorted: what a clean run leaves."""
    store = Store(settings, embedder)
    got = store.passages.get(include=["documents", "metadatas"])
    passages = sorted(zip(got["ids"], got["documents"], [sorted(m.items()) for m in got["metadatas"]], strict=False))
    records = sorted((r.id, r.hash, r.pending, r.passages) for r in store.records().values())
    return passages, records


def consistent(settings: Settings, embedder) -> None:
    """No pending record, every passage belongs to a committed article's current version, counts match."""
    store = Store(settings, embedder)
    records = store.records()
    assert not [r.id for r in records.values() if r.pending]
    got = store.passages.get(include=["metadatas"])
    per_article: dict[str, int] = {}
    for meta in got["metadatas"]:
        rec = records.get(meta["article_id"])
        assert rec is not None and rec.hash == meta["content_hash"], meta["article_id"]
        per_article[rec.id] = per_article.get(rec.id, 0) + 1
    assert per_article == {r.id: r.passages for r in records.values()}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(make_article(i)) for i in range(N_ARTICLES)) + "\n")
    return path


@pytest.fixture
def clean_run(tmp_path: Path, corpus: Path, embedder) -> tuple[list, list]:
    settings = Settings(store_path=tmp_path / "clean", collection="faults")
    ingest(corpus, {"ARTICLEQA_STORE_PATH": str(settings.store.path), "ARTICLEQA_COLLECTION": "faults"})
    return snapshot(settings, embedder)


def _articles_written(settings: Settings) -> int:
    try:
        return Store(settings, None).articles.count()  # type: ignore[arg-type] - no embedding needed to count
    except StoreError:
        return 0


@pytest.mark.parametrize("down_for", [0.5, 8.0])
def test_server_killed_mid_ingest_then_rerun_equals_clean_run(own_chroma_server, corpus, clean_run, embedder,
                                                              tmp_path, down_for):
    """0.5 s: the retries ride out the restart. 8 s: down until the ingest gives up; articles fail, one line each."""
    server = own_chroma_server
    settings = server.settings("faults", chroma_retries=0)
    env = {"ARTICLEQA_CHROMA_URL": server.url, "ARTICLEQA_COLLECTION": "faults",
           "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache")}
    proc = ingest(corpus, env, wait=False)
    deadline = time.monotonic() + 300
    while _articles_written(settings) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest finished before the server could be killed"
    server.kill()
    if down_for > 5:
        # Down for good while the ingest still has articles to write: they must fail, one line each.
        _, err = proc.communicate(timeout=600)
        server.start()
    else:
        time.sleep(down_for)
        server.start()
        _, err = proc.communicate(timeout=600)
    errors = [ln for ln in err.splitlines() if ln.startswith("error")]
    if down_for > 5:
        assert proc.returncode in (1, 2) and errors
        reason = f"Chroma server {server.url} is not reachable"
        assert [ln for ln in errors if reason not in ln and "more records failed (not shown" not in ln] == []
    else:
        assert proc.returncode == 0, err  # the retries rode out the restart

    rerun = ingest(corpus, env)
    assert rerun.returncode == 0
    consistent(settings, embedder)
    assert snapshot(settings, embedder) == clean_run


def test_server_down_at_query_time_cli_and_asker_recover(own_chroma_server, embedder, tmp_path):
    server = own_chroma_server
    settings = server.settings("query-down", chroma_retries=1, chroma_retry_delay=0.2)
    env = {**os.environ, "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache"), "ARTICLEQA_CHROMA_RETRIES": "1"}
    from ingest.pipeline import Ingestor

    Ingestor(settings, embedder=embedder).run([str(SEED)])
    asker = Asker(settings)
    assert "Kim Yo Jong" in asker.ask("Who accompanied Kim?").answer

    server.stop()
    t = time.monotonic()
    with pytest.raises(StoreError, match=f"Chroma server {server.url} is not reachable"):
        asker.ask("Who accompanied Kim?")
    assert time.monotonic() - t < 5
    cli = subprocess.run([sys.executable, "-m", "articleqa", "ask", "Who accompanied Kim?", "--chroma-url", server.url,
                          "--collection", "query-down"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 2
    lines = [ln for ln in cli.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Chroma server") and server.url in lines[0], cli.stderr
    assert "not reachable" in lines[0] and "Traceback" not in cli.stderr

    server.start()
    assert "Kim Yo Jong" in asker.ask("Who accompanied Kim?").answer  # the same Asker recovers, no restart


def test_chat_shows_the_error_and_recovers(own_chroma_server, tmp_path):
    from gradio_client import Client, handle_file

    from tests.app.conftest import free_port, start_server, stop_server, wait_until_up

    server = own_chroma_server
    port = free_port()
    os.environ["ARTICLEQA_CHROMA_RETRIES"] = "1"  # inherited by the app only; restored below
    try:
        app = start_server(tmp_path / "unused", port, "--chroma-url", server.url, "--collection", "chatdown")
    finally:
        del os.environ["ARTICLEQA_CHROMA_RETRIES"]
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", app)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict(files=[handle_file(str(SEED))], urls="", api_name="/ingest")
        assert "Kim Yo Jong" in client.predict("Who accompanied Kim?", api_name="/ask")["answer"]
        server.stop()
        with pytest.raises(Exception, match="not reachable") as info:
            client.predict("Who accompanied Kim?", api_name="/ask")
        assert "Traceback" not in str(info.value) and server.url in str(info.value)
        server.start()
        assert "Kim Yo Jong" in client.predict("Who accompanied Kim?", api_name="/ask")["answer"]
    finally:
        stop_server(app)


def test_chat_message_names_the_error_in_process(tmp_path, embedder):
    """The chat handler itself: a store error becomes the assistant's message, not a stack trace."""
    import app as chat_app

    settings = Settings(chroma_url="http://127.0.0.1:9", collection="nothing", chroma_retries=0)

    class DeadAsker:
        def stream(self, req):
            raise StoreError(f"Chroma server {settings.store.chroma_url} is not reachable (query: refused); start it")

    demo = chat_app.build_app(settings, asker=type("A", (), {"store": None, "stream": DeadAsker().stream,
                                                             "embedder": embedder})())
    respond = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "respond")
    outputs = list(respond("Who accompanied Kim?", [], [], "All sources", "", "", "extractive"))
    chat = outputs[-1][0]
    assert chat[-1]["role"] == "assistant" and "not reachable" in chat[-1]["content"]
    assert "Error" in chat[-1]["content"] and "Traceback" not in chat[-1]["content"]


# ---- the disk ------------------------------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tiny tmpfs of its own (root only): a disk that can fill up or be made read-only."""
    folder = tmp_path / "disk"
    folder.mkdir()
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10M", "tmpfs", str(folder)], capture_output=True)
    if got.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({got.stderr.decode().strip() or 'not root'})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def test_disk_full_fails_clearly_and_leaves_no_partial_article(tmpfs, corpus, clean_run, embedder, tmp_path):
    settings = Settings(store_path=tmpfs / "db", collection="faults", cache_dir=tmp_path / "cache")
    env = {"ARTICLEQA_STORE_PATH": str(settings.store.path), "ARTICLEQA_COLLECTION": "faults",
           "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache")}
    full = ingest(corpus, env)
    err = full.stderr.read()
    errors = [ln for ln in err.splitlines() if ln.startswith("error")]
    assert full.returncode in (1, 2) and errors, err
    # every record's line names the full disk (past max_bad_lines one line counts the rest)
    assert [ln for ln in errors if "is full" not in ln and "more records failed (not shown" not in ln] == []
    assert "Traceback" not in err

    _remount(tmpfs, "size=256M")
    consistent(settings, embedder)  # the failed articles were rolled back (or never started)
    again = ingest(corpus, env)
    assert again.returncode == 0
    assert snapshot(settings, embedder) == clean_run


def test_a_write_that_hangs_on_a_full_disk_ends_the_run_within_the_write_timeout(tmpfs, corpus, clean_run, embedder,
                                                                                 tmp_path):
    """With the free-space check off, Chroma meets ENOSPC and its write can hang for ever: the run must still end,
    report valid JSON, and lose nothing once space is back."""
    settings = Settings(store_path=tmpfs / "db", collection="faults", cache_dir=tmp_path / "cache")
    env = {**os.environ, "ARTICLEQA_STORE_PATH": str(settings.store.path), "ARTICLEQA_COLLECTION": "faults",
           "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache"), "ARTICLEQA_MIN_FREE_MB": "0",
           "ARTICLEQA_STORE_WRITE_TIMEOUT": "20", "ARTICLEQA_EMBED_BATCH_SIZE": "8"}
    cmd = [sys.executable, "-m", "articleqa", "ingest", str(corpus), "--json"]
    st = os.statvfs(tmpfs)
    (tmpfs / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - (2 << 20)))  # 2 MiB left: ~60 passages
    t = time.monotonic()
    full = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    took = time.monotonic() - t
    report = json.loads(full.stdout)  # valid JSON, whichever way Chroma failed
    assert full.returncode in (1, 2) and report["ok"] is False and "Traceback" not in full.stderr
    reasons = {i.get("reason", "") for i in report.get("items", []) if i.get("status") == "failed"}
    assert reasons, full.stderr
    assert took < 300, took  # not the 600 s kill of a hung run
    _remount(tmpfs, "size=256M")
    (tmpfs / "filler").unlink()
    again = subprocess.run([c for c in cmd if c != "--json"], cwd=REPO, env={**env, "ARTICLEQA_MIN_FREE_MB": "8"},
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert snapshot(settings, embedder) == clean_run


def test_read_only_store_fails_clearly_and_changes_nothing(tmpfs, embedder, tmp_path):
    settings = Settings(store_path=tmpfs / "db", collection="faults", cache_dir=tmp_path / "cache")
    env = {**os.environ, "ARTICLEQA_STORE_PATH": str(settings.store.path), "ARTICLEQA_COLLECTION": "faults",
           "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache")}
    assert ingest(SEED, env).returncode == 0
    # Nothing in this process may open the store before the remount: an open database keeps the mount busy.
    _remount(tmpfs, "ro")
    try:
        more = tmp_path / "more.jsonl"
        more.write_text(json.dumps(make_article(7)) + "\n")
        got = subprocess.run([sys.executable, "-m", "ingest", str(more)], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
        lines = [ln for ln in got.stderr.splitlines() if ln.strip()]
        assert got.returncode == 2 and len(lines) == 1 and "not writable" in lines[0], got.stderr
        asked = subprocess.run([sys.executable, "-m", "articleqa", "ask", "Who accompanied Kim?"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=300)
        assert "Traceback" not in asked.stderr
        # Answered from a private copy (Chroma writes its files even to read): articleqa/readonly.py.
        assert asked.returncode == 0 and "Kim Yo Jong" in asked.stdout, asked.stderr
        listed = subprocess.run([sys.executable, "-m", "articleqa", "articles", "list", "--json"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=300)
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 1, listed.stderr
    finally:
        _remount(tmpfs, "rw")
    consistent(settings, embedder)
    assert [r.title for r in Store(settings, embedder).records().values()] == [
        "China's Xi seeks closer coordination with North Korea in meeting with Kim"
    ]
