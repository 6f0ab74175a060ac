"""Fixtures for the app tests: a free port, and a real `python app.py` server on a temporary store with the seed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "articles" / "xi-kim-beijing-2025-09-04.txt"
ARTIFACTS = REPO / "test-artifacts"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict[str, str]:
    """The environment of a test server: offline, no analytics or telemetry."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}


def start_server(store: Path, port: int, *extra: str) -> subprocess.Popen:
    """Start `python app.py` on 127.0.0.1:port with its own store; the caller stops it."""
    log = open(store.parent / f"server-{port}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "--port", str(port), "--store", str(store), *extra],
        cwd=REPO, env=server_env(), stdout=log, stderr=subprocess.STDOUT,
    )


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    """Block until the page answers 200; fail with the server's log when it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not come up in {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server started by this test run (by its own pid)."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class AppServer:
    """A running app: its URL, store folder and the report of ingesting the seed through /ingest."""

    url: str
    store: Path
    seed_report: dict[str, Any] = field(default_factory=dict)

    def client(self):
        """A gradio_client for this server."""
        from gradio_client import Client

        return Client(self.url, verbose=False)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    """One server for the session, on an empty temporary store, with the seed article ingested through /ingest."""
    from gradio_client import handle_file

    store = tmp_path_factory.mktemp("appstore") / "store"
    port = free_port()
    proc = start_server(store, port)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc)
        server = AppServer(url, store)
        server.seed_report = server.client().predict(files=[handle_file(str(SEED))], urls="", api_name="/ingest")
        yield server
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder for screenshots (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
