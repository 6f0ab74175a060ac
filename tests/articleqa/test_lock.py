"""The embedded-store lock, with real processes: the chat owns its store, a second writer fails at once and clearly,
readers (ask, articles list) are not refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from articleqa.lock import LOCK_NAME, StoreBusy, acquire, holder, release, store_lock
from articleqa.settings import Settings
from tests.conftest import REPO, SEED

HOLD = """
import sys, time
from articleqa.lock import acquire
from articleqa.settings import Settings
acquire(Settings(store_path=sys.argv[1]), sys.argv[2], write=sys.argv[3] == "w", wait=0)
print("held", flush=True)
time.sleep(float(sys.argv[4]))
"""


def hold(store: Path, role: str, write: bool = True, seconds: float = 60.0) -> subprocess.Popen:
    """Another process holding the store lock until killed (or `seconds` pass)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store), role, "w" if write else "r", str(seconds)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def cli(*args: str, store: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARTICLEQA_STORE_PATH": str(store), "ARTICLEQA_COLLECTION": "locktest", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "articleqa", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_reentrant_in_one_process_and_released(tmp_path):
    s = Settings(store_path=tmp_path / "db")
    assert acquire(s, "chat") and acquire(s, "an ingest") and acquire(s, "reader", write=False)
    assert holder(tmp_path / "db" / LOCK_NAME)["role"] == "chat"
    for _ in range(3):
        release(s)
    assert holder(tmp_path / "db" / LOCK_NAME) == {}
    with store_lock(s, "again"):  # free again
        pass


def test_server_mode_takes_no_lock(tmp_path):
    assert not acquire(Settings(store_path=tmp_path / "db", chroma_url="http://127.0.0.1:1"), "chat")


@pytest.mark.slow
def test_cli_writers_fail_at_once_while_the_chat_holds_the_store(tmp_path):
    store = tmp_path / "db"
    chat = hold(store, "chat")
    try:
        t = time.monotonic()
        got = cli("ingest", str(SEED), store=store)
        assert got.returncode == 2
        lines = [ln for ln in got.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, got.stderr
        assert f"the chat (pid {chat.pid}) is using {store}" in lines[0]
        assert "Articles tab" in lines[0] and "ARTICLEQA_CHROMA_URL=" in lines[0]
        assert time.monotonic() - t < 30  # at once: no model load, no waiting

        deleted = cli("articles", "delete", "some-id", store=store)
        assert deleted.returncode == 2 and f"the chat (pid {chat.pid})" in deleted.stderr
        # Readers need no writer lock: they read between the chat's writes (articleqa.rwlock).
        asked = cli("ask", "Who accompanied Kim?", store=store)
        assert asked.returncode == 3 and "No articles are stored yet" in asked.stdout, asked.stderr
        listed = cli("articles", "list", store=store)
        assert listed.returncode == 0, listed.stderr
        with pytest.raises(StoreBusy, match="the chat"):
            acquire(Settings(store_path=store), "test", wait=0)
    finally:
        chat.kill()
        chat.wait()
    # the holder is gone (even killed, the kernel drops its lock): the CLI works again
    assert cli("ingest", str(SEED), "--quiet", store=store).returncode == 0
    assert cli("articles", "list", store=store).returncode == 0


@pytest.mark.slow
def test_second_ingest_and_chat_start_are_refused_while_an_ingest_writes(tmp_path):
    store = tmp_path / "db"
    ingest = hold(store, "articleqa ingest")
    try:
        got = cli("ingest", str(SEED), store=store)
        assert got.returncode == 2 and f"articleqa ingest (pid {ingest.pid}) is writing" in got.stderr
        serve = subprocess.run([sys.executable, str(REPO / "app.py"), "--store", str(store), "--port", "1"],
                               cwd=REPO, capture_output=True, text=True, timeout=120)
        assert serve.returncode == 2 and "is writing" in serve.stderr and "Traceback" not in serve.stderr
    finally:
        ingest.kill()
        ingest.wait()


@pytest.mark.slow
def test_writer_waits_for_a_short_reader(tmp_path):
    store = tmp_path / "db"
    reader = hold(store, "articleqa ask", write=False, seconds=1.0)
    t = time.monotonic()
    with store_lock(Settings(store_path=store), "an ingest"):
        assert time.monotonic() - t >= 0.5  # it waited for the reader instead of failing
    reader.wait()


@pytest.mark.slow
def test_real_chat_owns_its_store_and_ingests_itself(tmp_path):
    from gradio_client import Client, handle_file

    from tests.app.conftest import free_port, start_server, stop_server, wait_until_up

    store = tmp_path / "db"
    port = free_port()
    proc = start_server(store, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", proc)
        assert holder(store / LOCK_NAME) == {"pid": proc.pid, "role": "chat"}
        got = cli("ingest", str(SEED), store=store, extra_env={"ARTICLEQA_COLLECTION": "articles"})
        assert got.returncode == 2 and f"the chat (pid {proc.pid})" in got.stderr
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        report = client.predict(files=[handle_file(str(SEED))], urls="", api_name="/ingest")
        assert report["counts"]["added"] == 1
        answer = client.predict("Who accompanied Kim?", api_name="/ask")
        assert "Kim Yo Jong" in answer["answer"]
    finally:
        stop_server(proc)
