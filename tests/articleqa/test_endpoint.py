"""The answer registry: private to its user (0600), trusted only when it is, and never naming a dead process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from articleqa.endpoint import (
    REGISTRY,
    Endpoint,
    EndpointGone,
    ask,
    find,
    fingerprint,
    publish,
    stopped,
    withdraw,
    without_reference_date,
)
from articleqa.settings import Settings


def test_registry_is_private_and_names_this_process(tmp_path):
    s = Settings(store_path=tmp_path, collection="t")
    os.umask(0o022)
    path = publish(tmp_path, Endpoint.new(4321, "fp", "daemon"))
    assert path == tmp_path / REGISTRY and path.stat().st_mode & 0o777 == 0o600
    found = find(s)
    assert found is not None and (found.pid, found.port, found.fingerprint) == (os.getpid(), 4321, "fp")
    assert len(found.token) >= 32


def test_world_readable_or_dead_registries_are_ignored(tmp_path):
    s = Settings(store_path=tmp_path, collection="t")
    path = publish(tmp_path, Endpoint.new(1, "fp", "daemon"))
    path.chmod(0o644)  # someone else could have read (or written) the token
    assert find(s) is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    publish(tmp_path, Endpoint(int(dead.stdout), 1, "t", "fp", "daemon"))
    assert find(s) is None


def test_withdraw_leaves_another_process_entry(tmp_path):
    publish(tmp_path, Endpoint(os.getpid() + 1, 1, "t", "fp", "daemon"))
    withdraw(tmp_path)
    assert (tmp_path / REGISTRY).exists()
    publish(tmp_path, Endpoint.new(1, "fp", "daemon"))
    withdraw(tmp_path)
    assert not (tmp_path / REGISTRY).exists()


def test_fingerprint_follows_answer_settings_not_the_chat_or_the_date(tmp_path):
    base = Settings(store_path=tmp_path, collection="t")
    assert fingerprint(base) == fingerprint(base.with_overrides(port=9999, ask_server_idle=5))
    assert fingerprint(base) != fingerprint(base.with_overrides(top_k=3))
    assert fingerprint(base) != fingerprint(base.with_overrides(collection="other"))
    dated = base.with_overrides(reference_date="2025-09-04")
    assert fingerprint(dated) != fingerprint(base)  # a chat started with a date answers no dateless client
    assert fingerprint(without_reference_date(dated)) == fingerprint(base)


def test_server_mode_has_no_registry(tmp_path):
    assert find(Settings(store_path=tmp_path, chroma_url="http://127.0.0.1:8000")) is None


# A stand-in answer process: replies to POST /ask after `delay` seconds (a real process, so it can be stopped).
_SERVER = """
import json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(float(sys.argv[1]))
        body = json.dumps({"answer": {}, "refused": False}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), H)
print(srv.server_port, flush=True)
srv.serve_forever()
"""


@pytest.fixture
def answerer():
    """Start the stand-in with a reply delay; yields (process, Endpoint); the process is killed afterwards."""
    procs: list[subprocess.Popen] = []

    def start(delay: float) -> tuple[subprocess.Popen, Endpoint]:
        proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(delay)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        port = int(proc.stdout.readline())
        return proc, Endpoint(proc.pid, port, "t", "fp", "daemon")

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


def test_a_stopped_answer_process_is_not_waited_for(answerer):
    """The kernel still accepts connections for a SIGSTOPped process: only its state says it will never reply."""
    proc, endpoint = answerer(0.0)
    assert ask(endpoint, {"q": 1}, timeout=30)[0] == 200
    proc.send_signal(signal.SIGSTOP)
    while not stopped(proc.pid):  # the signal is delivered asynchronously
        time.sleep(0.01)
    t = time.monotonic()
    with pytest.raises(EndpointGone, match="is stopped"):
        ask(endpoint, {"q": 1}, timeout=300)
    assert time.monotonic() - t < 2


def test_an_answer_process_stopped_mid_question_is_given_up_after_the_stall(answerer):
    proc, endpoint = answerer(1.5)
    threading.Timer(0.5, proc.send_signal, (signal.SIGSTOP,)).start()
    t = time.monotonic()
    with pytest.raises(EndpointGone, match="stopped answering"):
        ask(endpoint, {"q": 1}, timeout=300, stall=1.0)
    assert time.monotonic() - t < 6
    proc.send_signal(signal.SIGCONT)
    assert ask(endpoint, {"q": 1}, timeout=30)[0] == 200  # continued, it answers again


def test_a_process_with_many_open_files_still_asks(answerer):
    """A long-lived process (the test run, a notebook) may hold over 1,024 descriptors; select() cannot watch those."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    _, endpoint = answerer(0.0)
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert ask(endpoint, {"q": 1}, timeout=30)[0] == 200
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
