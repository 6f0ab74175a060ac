"""Real servers on free 127.0.0.1 ports, stopped by their own process ids: `chroma run` with a temporary folder,
`articleqa embed-server` (the packaged MiniLM), and a small stdlib /v1/embeddings server that can misbehave."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from articleqa.settings import Settings

CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float, log: str) -> bool:
    """Whether `url` answered 200 within `timeout` seconds; raises if the server process exited meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[1:3]} exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


@dataclass
class ChromaServer:
    """One `chroma run` process; `start` again after `stop`/`kill` brings the same data back on the same port."""

    path: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, collection: str, **extra: object) -> Settings:
        """Settings that talk to this server (fast retries, so fault tests stay quick)."""
        return Settings(chroma_url=self.url, collection=collection, store_path=self.path.parent / "unused-store",
                        cache_dir=self.path.parent / "cache", **extra)

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.path.parent / f"chroma-{self.port}.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        if not wait_healthy(self.proc, f"{self.url}/api/v2/heartbeat", timeout, log.name):
            self.stop()
            raise TimeoutError(f"chroma run did not answer its heartbeat within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; only this server's own pid is signalled."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _server(folder: Path) -> Iterator[ChromaServer]:
    if not CHROMA.exists():
        pytest.skip(f"no chroma CLI at {CHROMA}")
    server = ChromaServer(folder / "chroma-data", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory) -> Iterator[ChromaServer]:
    """A Chroma server shared by a test module (tests use their own collections)."""
    yield from _server(tmp_path_factory.mktemp("chroma"))


@pytest.fixture
def own_chroma_server(tmp_path) -> Iterator[ChromaServer]:
    """A Chroma server for one test, which may stop, kill and restart it."""
    yield from _server(tmp_path)


@dataclass
class EmbedServer:
    """One `articleqa embed-server` process serving the packaged MiniLM."""

    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture(scope="session")
def embed_server(tmp_path_factory) -> Iterator[EmbedServer]:
    """`articleqa embed-server` on a free port for the whole session (the model loads once)."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("embed") / "embed-server.log", "ab")  # noqa: SIM115 - lives with the server
    proc = subprocess.Popen([sys.executable, "-m", "articleqa", "embed-server", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    try:
        if not wait_healthy(proc, f"http://127.0.0.1:{port}/health", 180, log.name):
            raise TimeoutError("embed-server did not answer /health within 180 s")
        yield EmbedServer(port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class FakeServer:
    """/v1/embeddings answering vectors derived from each text's length; can fail the first requests with a status."""

    def __init__(self, dimension: int = 6, fail_first: int = 0, status: int = 503):
        self.dimension, self.fail_first, self.status = dimension, fail_first, status
        self.requests: list[list[str]] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def vector(self, text: str) -> list[float]:
        return [float(len(text) + i) for i in range(self.dimension)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def serve(self) -> Iterator[FakeServer]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append(body["input"])
                    failing = len(fake.requests) <= fake.fail_first
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                time.sleep(0.05)  # long enough for concurrent requests to overlap
                with fake._lock:
                    fake.in_flight -= 1
                if failing:
                    out, code = {"error": {"message": "warming up"}}, fake.status
                else:
                    data = [{"object": "embedding", "index": i, "embedding": fake.vector(t)}
                            for i, t in enumerate(body["input"])]
                    out, code = {"object": "list", "data": data[::-1], "model": body["model"]}, 200  # any order
                raw = json.dumps(out).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
