"""An LLM endpoint that is closed or never answers: the extractive answer and a notice arrive within the timeout."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from articleqa.settings import Settings
from ingest.pipeline import Ingestor
from qa.ask import Asker, Request
from tests.conftest import SEED

pytestmark = pytest.mark.slow
TIMEOUT = 1.5
MARGIN = 3.0  # retrieval, extraction and the citation check around the LLM call


class _Silent(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        time.sleep(30)  # accepts the connection, never answers within any sane timeout

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def silent_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


@pytest.fixture(scope="module")
def store_settings(tmp_path_factory, embedder) -> Settings:
    settings = Settings(store_path=tmp_path_factory.mktemp("llmfault") / "store", collection="llmfault")
    Ingestor(settings, embedder=embedder).run([str(SEED)])
    Asker(settings).ask("Who accompanied Kim?")  # warm: spaCy, keyword index
    return settings


@pytest.mark.parametrize("endpoint", ["closed", "silent"])
def test_llm_fault_falls_back_to_extractive_within_the_timeout(store_settings, silent_server, endpoint):
    url = _closed_port() if endpoint == "closed" else silent_server
    asker = Asker(store_settings.with_overrides(llm_base_url=url, llm_timeout=TIMEOUT, mode="llm"))
    asker.ask(Request("Who accompanied Kim?", mode="extractive"))  # models warm in this Asker too
    t = time.perf_counter()
    answer = asker.ask(Request("Who accompanied Kim?", mode="llm"))
    elapsed = time.perf_counter() - t
    assert answer.mode == "extractive" and not answer.refused and "Kim Yo Jong" in answer.answer
    assert answer.citations
    assert any("LLM was not available" in n for n in answer.notices), answer.notices
    assert elapsed < TIMEOUT + MARGIN, f"{elapsed:.1f} s"
