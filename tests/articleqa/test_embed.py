"""The embedder under concurrency: questions do not wait for an ingest, and parallel use gives the same vectors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from articleqa.embed import _pool, resolve_model_path
from tests.conftest import make_article

pytestmark = pytest.mark.slow


def _passages(n: int) -> list[str]:
    return [make_article(i)["text"][:700] for i in range(n)]


def test_question_is_answered_while_a_long_batch_runs(embedder, monkeypatch):
    texts = _passages(240)
    alone_q = embedder.encode_query("Who announced the port expansion in Lisbon?")
    done: dict[str, object] = {}
    # Signalled from inside the batch's first model call, so the question below surely arrives mid-batch.
    started = threading.Event()
    pool = _pool(resolve_model_path(embedder.model_name), "batch", 1)
    encode = pool.encode

    def signalling_encode(*args, **kwargs):
        started.set()
        return encode(*args, **kwargs)

    monkeypatch.setattr(pool, "encode", signalling_encode)

    def batch() -> None:
        done["vectors"] = embedder.encode_passages(texts)
        done["end"] = time.monotonic()

    worker = threading.Thread(target=batch)
    worker.start()
    assert started.wait(timeout=60), "the batch never reached the model"
    assert worker.is_alive()
    q = embedder.encode_query("Who announced the port expansion in Lisbon?")
    answered = time.monotonic()
    worker.join()

    # The question came back before the batch finished: it did not queue behind the whole ingest.
    assert answered < done["end"]
    assert np.allclose(q, alone_q, atol=1e-5)
    # Vectors from the batch instance, computed alongside questions, equal the same texts embedded alone.
    sample = [0, 17, 239]
    alone = embedder.encode_sentences([texts[i] for i in sample])
    assert np.allclose(done["vectors"][sample], alone, atol=1e-4)


def test_parallel_questions_get_the_same_vectors(embedder):
    questions = [f"What did speaker {i} say about the rail strike in Osaka?" for i in range(24)]
    expected = embedder.encode_sentences(questions)
    got: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        got[i] = embedder.encode_query(questions[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(len(questions)))
    assert np.allclose(np.stack([got[i] for i in range(len(questions))]), expected, atol=1e-5)


def test_a_model_that_fails_to_load_fails_again_instead_of_hanging(tmp_path):
    from articleqa.embed import Embedder
    from articleqa.settings import Settings

    emb = Embedder(Settings(embedding_model=str(tmp_path / "no-such-model"), query_models=1).embedding)
    errors: list[BaseException] = []

    def ask() -> None:
        for _ in range(2):
            try:
                emb.encode_query("anything")
            except Exception as exc:  # noqa: BLE001 - collected for the assertions
                errors.append(exc)

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the second load waited for a slot the failed load used up"
    assert len(errors) == 2
