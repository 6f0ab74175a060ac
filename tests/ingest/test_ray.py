"""bench/ray_ingest.py on a local Ray: the same store as a plain ingest, written by Ray actors to a Chroma server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from articleqa.store import Store
from ingest.pipeline import Ingestor
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _snapshot(settings, embedder):
    store = Store(settings, embedder)
    got = store.passages.get(include=["documents", "metadatas"])
    passages = sorted(zip(got["ids"], got["documents"], [sorted(m.items()) for m in got["metadatas"]], strict=False))
    return passages, sorted((r.id, r.hash, r.pending, r.passages) for r in store.records().values())


def test_ray_ingest_matches_a_plain_ingest(chroma_server, embed_server, embedder, corpus_file):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'articleqa[ray]')")
    corpus = corpus_file(12)
    plain = chroma_server.settings("ray-plain")
    assert Ingestor(plain, embedder=embedder).run([str(corpus)]).ok
    env = {**os.environ, "ARTICLEQA_EMBEDDING_URL": embed_server.url, "RAY_ADDRESS": "",
           "ARTICLEQA_CACHE_DIR": str(chroma_server.path.parent / "cache")}
    got = subprocess.run([sys.executable, str(REPO / "bench" / "ray_ingest.py"), str(corpus), "--chroma-url",
                          chroma_server.url, "--collection", "ray-actors", "--workers", "2", "--json"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert got.returncode == 0, got.stderr[-3000:]
    report = json.loads(got.stdout)
    assert report["counts"]["added"] == 12 and report["ok"]
    assert _snapshot(chroma_server.settings("ray-actors"), embedder) == _snapshot(plain, embedder)
