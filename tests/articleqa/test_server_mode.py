"""Against a real Chroma server: ingest, re-ingest, update, ask, delete, and a keyword index that follows writes made
by another process without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from articleqa.catalog import delete
from ingest.pipeline import Ingestor
from qa.ask import Asker
from qa.keyword_index import KeywordIndex
from tests.conftest import REPO, SEED, make_article

pytestmark = pytest.mark.slow


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `python -m articleqa ...` (or `-m ingest`) as its own process."""
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _passages(store) -> dict[str, tuple[str, dict]]:
    got = store.passages.get(include=["documents", "metadatas"])
    return {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)}


def test_ingest_update_ask_delete_against_a_server(chroma_server, embedder, corpus_file):
    settings = chroma_server.settings("server-suite")
    corpus = corpus_file(5)
    ing = Ingestor(settings, embedder=embedder)
    first = ing.run([str(corpus), str(SEED)])
    assert first.ok and first.counts()["added"] == 6
    state = _passages(ing.store)

    again = ing.run([str(corpus), str(SEED)])
    assert again.counts()["unchanged"] == 6 and again.passages_embedded == 0
    assert _passages(ing.store) == state

    records = [make_article(i) for i in range(5)]
    records[1]["text"] += "\nA late correction about the zeppelin hangar was added to this story."
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    third = ing.run([str(corpus)])
    assert third.counts()["updated"] == 1 and third.counts()["unchanged"] == 4
    hashes = {m["content_hash"] for _, m in _passages(ing.store).values() if m["article_id"] == "syn-0001"}
    assert hashes == {ing.store.record("syn-0001").hash}

    asker = Asker(settings)
    answer = asker.ask("Who accompanied Kim?")
    assert not answer.refused and "Kim Yo Jong" in answer.answer
    assert [h.passage_id for h in asker.retriever.keywords.search("zeppelin hangar", 3)][:1]

    seed_id = next(r.id for r in ing.store.records().values() if "Kim" in r.title)
    assert delete(ing.settings, [seed_id], ing.store) == {seed_id: True}
    assert not any(m["article_id"] == seed_id for _, m in _passages(ing.store).values())
    after = asker.ask("Who accompanied Kim?")
    assert after.refused or "Kim Yo Jong" not in after.answer


def test_keyword_index_follows_another_process(chroma_server, embedder, tmp_path):
    settings = chroma_server.settings("cross-process")
    env = {"ARTICLEQA_CACHE_DIR": str(tmp_path / "cache-sub")}
    first = tmp_path / "first.jsonl"
    first.write_text(json.dumps(make_article(1)) + "\n")
    assert cli("-m", "ingest", str(first), "--chroma-url", chroma_server.url, "--collection", "cross-process",
               "--quiet", env=env).returncode == 0

    asker = Asker(settings)  # this process's keyword index, built once here
    assert asker.retriever.keywords.search("announced", 5)
    assert not asker.retriever.keywords.search("walrus sanctuary", 5)
    stats = asker.retriever.keywords.stats
    built = stats.rebuilds

    other = make_article(2)
    other["text"] = "The walrus sanctuary opened near Tromsø on Tuesday, officials said.\n" + other["text"]
    second = tmp_path / "second.jsonl"
    second.write_text(json.dumps(other) + "\n")
    done = cli("-m", "ingest", str(second), "--chroma-url", chroma_server.url, "--collection", "cross-process",
               "--quiet", env=env)
    assert done.returncode == 0, done.stderr

    hits = asker.retriever.keywords.search("walrus sanctuary", 5)  # no restart: caught up from the change log
    assert hits and asker.store.get_passages([hits[0].passage_id])[0].article_id == other["id"]
    assert stats.rebuilds == built and stats.articles_applied >= 1  # only the new article was read, no full re-read

    gone = cli("-m", "articleqa", "articles", "delete", other["id"], "--chroma-url", chroma_server.url,
               "--collection", "cross-process", env=env)
    assert gone.returncode == 0, gone.stderr
    assert not asker.retriever.keywords.search("walrus sanctuary", 5)
    assert stats.rebuilds == built


def test_every_command_accepts_chroma_url(chroma_server, tmp_path):
    env = {"ARTICLEQA_CACHE_DIR": str(tmp_path / "cache")}
    url = ["--chroma-url", chroma_server.url, "--collection", "cli-flags"]
    ingest = cli("-m", "articleqa", "ingest", str(SEED), *url, "--quiet", env=env)
    assert ingest.returncode == 0, ingest.stderr
    listed = cli("-m", "articleqa", "articles", "list", "--json", *url, env=env)
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 1
    asked = cli("-m", "articleqa", "ask", "Who accompanied Kim?", "--json", *url, env=env)
    assert asked.returncode == 0 and "Kim Yo Jong" in json.loads(asked.stdout)["answer"]
    for command in (["eval"], ["serve"]):
        helptext = cli("-m", "articleqa", *command, "--help", env={**env, "COLUMNS": "200"}).stdout
        assert "--chroma-url" in helptext


def test_keyword_cache_is_per_server_and_collection(chroma_server, embedder):
    a = KeywordIndex(chroma_server.settings("cache-a"), Asker(chroma_server.settings("cache-a")).store)
    b = KeywordIndex(chroma_server.settings("cache-b"), Asker(chroma_server.settings("cache-b")).store)
    assert a.path != b.path
