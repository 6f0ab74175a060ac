"""`articleqa ask` through a warm process, with real processes: the answer daemon (started on first use) gives the
same JSON and text as an in-process answer, sees articles another process ingests, survives SIGKILL by being
replaced, and exits when idle; while the chat runs, the CLI's questions go through the chat."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from articleqa.endpoint import OWNER_LOCK, REGISTRY
from articleqa.endpoint import alive as endpoint_alive
from bench.concurrency import daemon_pid, questions, stop_daemon, write_corpus
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def cli(*args: str, store: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "ARTICLEQA_STORE_PATH": str(store), "ARTICLEQA_COLLECTION": "daemon",
            "ARTICLEQA_ASK_SERVER": "auto", "HF_HUB_OFFLINE": "1",
            "XDG_CACHE_HOME": str(store.parent / "xdg-cache"), **env}  # the fast path's notes: this test's own
    return subprocess.run([sys.executable, "-m", "articleqa", *args], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=600)


def answer(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode in (0, 3), proc.stderr
    data = json.loads(proc.stdout)
    data.pop("timings")
    return data


# Exit 99 when the fast path declines (the full command would have run), else its own exit code.
FAST_ONLY = "import sys; from cli.fast_ask import try_answer; c = try_answer([sys.argv[1], '--json']); " \
            "sys.exit(99 if c is None else c)"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_daemon_answers_like_the_cli_and_follows_a_separate_ingest(tmp_path):
    store = tmp_path / "store"
    seed = write_corpus(tmp_path / "seed", 0, 4, 8)
    assert cli("ingest", *map(str, seed), "--quiet", store=store).returncode == 0
    q0, new_q = questions(1)[0], questions(5)[4]  # article 4 is not stored yet
    try:
        first = cli("ask", q0, "--json", store=store)
        pid = daemon_pid(store)
        assert pid and alive(pid), first.stderr
        assert (store / REGISTRY).stat().st_mode & 0o777 == 0o600
        t = time.monotonic()
        warm = cli("ask", q0, "--json", store=store)
        assert time.monotonic() - t < 30  # no model load (seconds under load; ~0.3 s on a quiet machine)
        local = cli("ask", q0, "--json", "--local", store=store)
        assert answer(first) == answer(warm) == answer(local)
        assert cli("ask", q0, store=store).stdout == cli("ask", q0, "--local", store=store).stdout
        # The full command left a note for this context: the fast path alone (no Typer, no settings) answers it.
        fast = subprocess.run([sys.executable, "-c", FAST_ONLY, q0], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "ARTICLEQA_STORE_PATH": str(store), "ARTICLEQA_COLLECTION": "daemon",
                                   "ARTICLEQA_ASK_SERVER": "auto", "HF_HUB_OFFLINE": "1",
                                   "XDG_CACHE_HOME": str(store.parent / "xdg-cache")}, timeout=120)
        assert fast.returncode == 0, fast.stderr
        assert answer(fast) == answer(local)

        # Another process ingests an article: the daemon's next answer cites it (it reopened the store).
        more = write_corpus(tmp_path / "more", 4, 1, 8)
        assert cli("ingest", str(more[0]), "--quiet", store=store).returncode == 0
        got = answer(cli("ask", new_q, "--json", store=store))
        assert not got["refused"] and got["citations"][0]["article_id"] == "syn-0004", got["answer"]
        assert daemon_pid(store) == pid
        assert got == answer(cli("ask", new_q, "--json", "--local", store=store))

        # A daemon killed outright: the next question is still answered, and the same.
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        again = cli("ask", q0, "--json", store=store)
        assert answer(again) == answer(cli("ask", q0, "--json", "--local", store=store))
        # The dead daemon (a zombie until someone reaps it) no longer blocks a replacement from registering.
        replacement = daemon_pid(store)
        assert replacement not in (None, pid) and alive(replacement)
    finally:
        stop_daemon(store)
    assert daemon_pid(store) is None


def test_a_daemon_running_older_code_is_replaced(tmp_path):
    store = tmp_path / "store"
    seed = write_corpus(tmp_path / "seed", 0, 2, 6)
    assert cli("ingest", *map(str, seed), "--quiet", store=store).returncode == 0
    q0 = questions(1)[0]
    try:
        cli("ask", q0, "--json", store=store)
        old = daemon_pid(store)
        assert old is not None
        # What an edit or upgrade of the checkout leaves behind: a registry whose code is not this checkout's.
        registry = json.loads((store / REGISTRY).read_text())
        (store / REGISTRY).write_text(json.dumps({**registry, "code": "an older checkout"}))
        got = cli("ask", q0, "--json", store=store)
        assert answer(got) == answer(cli("ask", q0, "--json", "--local", store=store))
        new = daemon_pid(store)
        assert new not in (None, old) and not endpoint_alive(old)  # a zombie until init reaps it counts as gone
    finally:
        stop_daemon(store)


def test_daemon_exits_when_idle_and_off_means_in_process(tmp_path):
    store = tmp_path / "store"
    seed = write_corpus(tmp_path / "seed", 0, 2, 6)
    assert cli("ingest", *map(str, seed), "--quiet", store=store).returncode == 0
    q0 = questions(1)[0]
    off = cli("ask", q0, "--json", store=store, ARTICLEQA_ASK_SERVER="off")
    assert off.returncode == 0 and daemon_pid(store) is None
    try:
        cli("ask", q0, "--json", store=store, ARTICLEQA_ASK_SERVER_IDLE="2")
        pid = daemon_pid(store)
        assert pid is not None
        deadline = time.monotonic() + 60
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(pid) and daemon_pid(store) is None
        log = (store / ".articleqa-cache" / "answer-daemon.log").read_text()
        assert "exits: idle for 2 s; 1 questions answered" in log
    finally:
        stop_daemon(store)


def test_cli_questions_go_through_the_running_chat(tmp_path):
    from tests.app.conftest import SEED, free_port, start_server, stop_server, wait_until_up

    store = tmp_path / "store"
    assert cli("ingest", str(SEED), "--quiet", store=store, ARTICLEQA_COLLECTION="articles").returncode == 0
    port = free_port()
    proc = start_server(store, port)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", proc)
        deadline = time.monotonic() + 60
        while daemon_pid(store) != proc.pid and time.monotonic() < deadline:
            time.sleep(0.2)
        registry = json.loads((store / REGISTRY).read_text())
        assert registry["pid"] == proc.pid and registry["role"] == "chat"
        got = cli("ask", "Who accompanied Kim?", "--json", store=store, ARTICLEQA_COLLECTION="articles")
        assert answer(got)["citations"], got.stdout
        assert daemon_pid(store) == proc.pid  # answered by the chat: no daemon was started
        assert not (store / OWNER_LOCK).exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
    finally:
        stop_server(proc)
    assert daemon_pid(store) is None  # the chat withdrew its registry on the way out
