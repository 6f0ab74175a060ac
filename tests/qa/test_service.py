"""The answer endpoint over real HTTP: a wrong token, other settings or a malformed body never reach the Asker;
questions answered at once give the answers one at a time gives, also while another process ingests and the store
is reopened under questions in flight."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from articleqa.endpoint import ask, find
from articleqa.settings import Settings
from qa.service import AnswerService, start_endpoint, stop_endpoint


def _post(port: int, body: bytes, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/ask", body, {"Authorization": f"Bearer {token}"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_endpoint_refuses_before_answering(tmp_path):
    settings = Settings(store_path=tmp_path, collection="t")
    service = AnswerService(settings)
    server, endpoint = start_endpoint(service, tmp_path, "daemon")
    try:
        assert find(settings) == endpoint
        assert _post(endpoint.port, b'{"question": "q"}', "wrong") == 401
        assert _post(endpoint.port, b"[1, 2]", endpoint.token) == 400
        assert _post(endpoint.port, b"x" * 70_000, endpoint.token) == 400
        status, reply = ask(endpoint, {"question": "Who?", "fingerprint": "other"}, timeout=10)
        assert status == 409 and "other settings" in reply["error"]
        status, reply = ask(endpoint, {"question": 7, "fingerprint": service.fingerprint}, timeout=10)
        assert status == 400, reply
        assert json.dumps(reply)  # every reply is JSON
    finally:
        stop_endpoint(server, tmp_path)
        service.close()
    assert find(settings) is None


def test_a_collection_opened_before_a_reopen_keeps_answering(tmp_path, embedder):
    """What answering at once relies on: when one question reopens the store after an ingest, another still
    answering over the old client is not cut off (and the reopened client sees what was written)."""
    import numpy as np

    from articleqa.store import Store

    settings = Settings(store_path=tmp_path / "store", collection="svc")
    store = Store(settings, embedder)
    vec = np.full(embedder.dimension, 1.0 / np.sqrt(embedder.dimension), dtype=np.float32)
    store.passages.upsert(ids=["a:0"], documents=["first"], metadatas=[{"article_id": "a"}], embeddings=[vec])
    old = store.passages
    store.reopen()
    store.passages.upsert(ids=["b:0"], documents=["second"], metadatas=[{"article_id": "b"}], embeddings=[vec])
    assert old.get(ids=["a:0"])["documents"] == ["first"]
    assert len(old.query(query_embeddings=[vec], n_results=1)["ids"][0]) == 1
    assert store.passages.count() == 2


@pytest.mark.slow
def test_questions_answered_at_once_match_serial_answers_while_another_process_ingests(tmp_path, embedder):
    """Two workers answer together what one answers alone, the same; an ingest by another process meanwhile (the
    store reopened under questions in flight) gives no error, and the next answer cites the new article."""
    from bench.concurrency import questions, write_corpus
    from ingest.pipeline import Ingestor
    from qa.ask import Asker
    from tests.conftest import REPO

    store = tmp_path / "store"
    settings = Settings(store_path=store, collection="svc", ask_server_workers=2)
    seed = write_corpus(tmp_path / "seed", 0, 6, 8)
    assert Ingestor(settings).run([str(p) for p in seed]).ok
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # the service opens the store as a separate reader would
    qs = sorted(set(questions(6)))
    service = AnswerService(settings)
    assert service.workers == 2
    try:
        def answer(q: str) -> dict:
            status, reply = service.submit({"question": q, "fingerprint": service.fingerprint})
            assert status == 200, reply
            got = dict(reply["answer"])
            got.pop("timings")
            return got

        serial = {q: answer(q) for q in qs}
        with ThreadPoolExecutor(4) as pool:
            parallel = dict(zip(qs * 3, pool.map(answer, qs * 3), strict=True))
        assert parallel == serial

        new = write_corpus(tmp_path / "new", 6, 4, 8)
        env = {**os.environ, "ARTICLEQA_STORE_PATH": str(store), "ARTICLEQA_COLLECTION": "svc",
               "ARTICLEQA_EMBED_BATCH_SIZE": "1", "HF_HUB_OFFLINE": "1"}  # a write every 64 passages
        ingest = subprocess.Popen([sys.executable, "-m", "articleqa", "ingest", *map(str, new), "--quiet"], cwd=REPO,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        asked = 0
        with ThreadPoolExecutor(4) as pool:
            while ingest.poll() is None:
                for got in pool.map(answer, qs):
                    assert got["question"] in qs and got["citations"]
                asked += len(qs)
        assert ingest.returncode == 0, ingest.stderr.read()
        assert asked and service.reopened  # questions were in flight while the store was reopened under them
        latest = questions(10)[9]  # about article 9, written by the ingest
        got = answer(latest)
        assert not got["refused"] and got["citations"][0]["article_id"] == "syn-0009", got["answer"]
        # What the reopened store answers is what a fresh reader of the store answers.
        fresh = Asker(settings)
        for q in [*qs, latest]:
            want = fresh.ask(q).to_dict()
            want.pop("timings")
            assert answer(q) == want
    finally:
        service.close()
