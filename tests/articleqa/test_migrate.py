"""`articleqa migrate`: embedded -> server -> embedded with stored embeddings, idempotent, identical answers."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from articleqa.embed import Embedder
from articleqa.migrate import migrate
from articleqa.settings import Settings
from articleqa.store import Store, StoreError
from ingest.pipeline import Ingestor
from qa.ask import Asker
from tests.conftest import REPO, SEED

pytestmark = pytest.mark.slow
QUESTIONS = ["Who accompanied Kim?", "How did Kim travel to Beijing?", "What did Maria Lopez announce?",
             "What is the name of Kim's daughter?"]


def _content(store: Store) -> tuple[list, list, np.ndarray]:
    """Passages (id, text, metadata), records, and the embeddings in passage-id order."""
    got = store.passages.get(include=["documents", "metadatas", "embeddings"])
    rows = sorted(zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=False),
                  key=lambda r: r[0])
    passages = [(pid, doc, sorted(meta.items())) for pid, doc, meta, _ in rows]
    records = sorted((r.id, r.hash, r.pending, r.passages, r.title, r.aliases) for r in store.records().values())
    return passages, records, np.asarray([r[3] for r in rows], dtype=np.float32)


def _same(a: tuple, b: tuple) -> bool:
    # A server sends float32 vectors as JSON: equal to within float32 rounding, not bit for bit.
    return a[0] == b[0] and a[1] == b[1] and a[2].shape == b[2].shape and np.allclose(a[2], b[2], atol=1e-5)


def _answers(settings: Settings) -> list[tuple[str, bool, list[str]]]:
    asker = Asker(settings)
    return [(a.answer, a.refused, [c.quote for c in a.citations]) for a in map(asker.ask, QUESTIONS)]


def test_embedded_to_server_to_embedded_gives_identical_answers(tmp_path, chroma_server, embedder, corpus_file,
                                                                monkeypatch):
    source = Settings(store_path=tmp_path / "source", collection="mig", cache_dir=tmp_path / "c1")
    Ingestor(source, embedder=embedder).run([str(corpus_file(30)), str(SEED)])
    expected_content = _content(Store(source, embedder))
    expected_answers = _answers(source)

    def no_embedding(*args, **kwargs):
        raise AssertionError("migrate must copy stored embeddings, never embed")

    monkeypatch.setattr(Embedder, "encode_passages", no_embedding)
    server = chroma_server.settings("mig")
    progress: list[tuple[int, int]] = []
    first = migrate(source, server, page=7, on_progress=lambda d, t: progress.append((d, t)))
    assert first.copied == 31 and first.unchanged == 0 and progress[-1] == (31, 31) and len(progress) == 5
    again = migrate(source, server, page=7)
    assert again.copied == 0 and again.unchanged == 31 and again.passages == 0  # idempotent: nothing rewritten
    assert _same(_content(Store(server, embedder)), expected_content)

    back = Settings(store_path=tmp_path / "back", collection="mig", cache_dir=tmp_path / "c2")
    assert migrate(server, back, page=50).copied == 31
    assert _same(_content(Store(back, embedder)), expected_content)
    assert Store(back, embedder).generation() == Store(source, embedder).generation()
    monkeypatch.undo()
    assert _answers(back) == expected_answers
    assert _answers(server) == expected_answers


def test_changed_and_pruned_articles_follow_the_source(tmp_path, embedder, corpus_file):
    source = Settings(store_path=tmp_path / "s", collection="mig2")
    target = Settings(store_path=tmp_path / "t", collection="mig2")
    ing = Ingestor(source, embedder=embedder)
    ing.run([str(corpus_file(4))])
    Ingestor(target, embedder=embedder).run([str(SEED)])  # a target-only article
    migrate(source, target)
    ing.run([str(corpus_file(3, name="changed.jsonl", start=10))])
    from articleqa.catalog import delete

    delete(ing.settings, ["syn-0000"], ing.store)
    report = migrate(source, target, prune=True)
    assert report.copied == 3 and report.unchanged == 3 and report.pruned == 2  # seed + deleted syn-0000
    assert _same(_content(Store(target, embedder)), _content(ing.store))


def test_same_store_is_refused_and_cli_reports_progress(tmp_path, embedder, chroma_server):
    s = Settings(store_path=tmp_path / "s", collection="mig3")
    with pytest.raises(StoreError, match="same collection"):
        migrate(s, s)
    Ingestor(s, embedder=embedder).run([str(SEED)])
    env = {**os.environ, "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run(
        [sys.executable, "-m", "articleqa", "migrate", "--from-store", str(tmp_path / "s"), "--to-url",
         chroma_server.url, "--collection", "mig3"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "1 copied, 0 unchanged" in run.stderr
    bad = subprocess.run([sys.executable, "-m", "articleqa", "migrate", "--from-store", "x"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "exactly one" in bad.stderr
