"""The BM25 keyword index over a real store: search, filters, the on-disk cache and following the generation."""

from __future__ import annotations

import datetime as dt

import pytest

from articleqa.catalog import delete
from ingest.pipeline import Ingestor
from qa.keyword_index import KeywordIndex
from tests.conftest import make_article

pytestmark = pytest.mark.slow


@pytest.fixture
def ingested(settings, embedder, corpus_file):
    ing = Ingestor(settings, embedder=embedder)
    assert ing.run([str(corpus_file(6))]).ok
    return ing


def test_search_finds_the_article_that_names_the_words(ingested):
    index = KeywordIndex(ingested.settings, ingested.store)
    target = make_article(3)
    hits = index.search(f"{target['title']}", 5)
    assert hits and hits[0].passage_id.startswith("syn-0003::")
    assert all(h.score > 0 for h in hits) and hits == sorted(hits, key=lambda h: -h.score)
    assert index.search("zzzqqq unknownword", 5) == []  # no known term: nothing, not an error


def test_source_and_date_filters(ingested):
    index = KeywordIndex(ingested.settings, ingested.store)
    target = make_article(3)
    day = dt.date.fromisoformat(target["publish_date"]).toordinal()
    same_source = index.search(target["title"], 30, source=target["source"].upper())
    assert same_source and all(ingested.store.record(h.passage_id.split("::")[0]).source == target["source"]
                               for h in same_source)
    on_day = index.search(target["title"], 30, since=day, until=day)
    assert on_day and {h.passage_id.split("::")[0] for h in on_day} <= {
        a["id"] for a in map(make_article, range(6)) if a["publish_date"] == target["publish_date"]}
    assert index.search(target["title"], 5, source="No Such Paper") == []


def test_cache_is_reused_by_a_new_process_and_follows_deletes(ingested):
    first = KeywordIndex(ingested.settings, ingested.store)
    assert len(first.search(make_article(1)["title"], 5)) > 0
    # A second index (as another process would build) loads the saved one for the same generation.
    second = KeywordIndex(ingested.settings, ingested.store)
    second.refresh()
    assert len(second) == len(first)
    delete(ingested.settings, ["syn-0001"], ingested.store)
    assert not any(h.passage_id.startswith("syn-0001::") for h in second.search(make_article(1)["title"], 30))
    assert len(second) < len(first) or first.refresh() is None


# ---- the change log: incremental catch-up, crashes, corrupt or foreign files, several processes ---------------------
def _articles(hits) -> set[str]:
    return {h.passage_id.split("::")[0] for h in hits}


def test_add_and_delete_are_caught_up_without_a_rebuild(ingested, corpus_file):
    index = KeywordIndex(ingested.settings, ingested.store)
    index.refresh()
    assert index.stats.rebuilds == 1  # no index file yet: the one full build
    before = len(index)
    assert ingested.run([str(corpus_file(1, name="more.jsonl", start=40))]).ok
    assert "syn-0040" in _articles(index.search(make_article(40)["title"], 5))
    assert index.stats.rebuilds == 1 and index.stats.articles_applied == 1 and len(index) > before
    delete(ingested.settings, ["syn-0040"], ingested.store)
    assert "syn-0040" not in _articles(index.search(make_article(40)["title"], 30))
    assert index.stats.rebuilds == 1 and index.stats.articles_applied == 2 and len(index) == before


def test_a_write_killed_before_its_log_entry_is_logged_by_recovery(ingested, corpus_file, monkeypatch):
    index = KeywordIndex(ingested.settings, ingested.store)
    index.refresh()
    store = ingested.store

    def killed(ids):  # the process dies after the passages were written, before the change-log entry
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "log_changes", killed)
    with pytest.raises(KeyboardInterrupt):
        ingested.run([str(corpus_file(1, name="killed.jsonl", start=41))])
    monkeypatch.undo()
    assert store.record("syn-0041").pending  # left pending: recover() finishes it and logs it
    assert "syn-0041" in store.recover()
    assert "syn-0041" in _articles(index.search(make_article(41)["title"], 5))
    assert index.stats.rebuilds == 1


def test_a_catch_up_killed_midway_is_rolled_back_and_redone(ingested, corpus_file, monkeypatch):
    index = KeywordIndex(ingested.settings, ingested.store)
    index.refresh()
    assert ingested.run([str(corpus_file(1, name="more.jsonl", start=42))]).ok
    real = index._add

    def dies(writer, rows):
        real(writer, rows)
        raise KeyboardInterrupt  # after adding the rows, before the commit that records the new sequence number

    monkeypatch.setattr(index, "_add", dies)
    with pytest.raises(KeyboardInterrupt):
        index.refresh()
    monkeypatch.undo()
    again = KeywordIndex(ingested.settings, ingested.store)  # as a new process: the transaction was rolled back
    hits = again.search(make_article(42)["title"], 5)
    assert "syn-0042" in _articles(hits) and again.stats.rebuilds == 0 and again.stats.articles_applied == 1
    assert len({h.passage_id for h in again.search(make_article(42)["title"], 50)}) == len(
        again.search(make_article(42)["title"], 50))  # no passage indexed twice


@pytest.mark.parametrize("damage", ["missing", "garbage", "other store"])
def test_a_missing_corrupt_or_foreign_index_is_rebuilt(ingested, damage, monkeypatch):
    first = KeywordIndex(ingested.settings, ingested.store)
    first.refresh()
    import json
    import shutil

    if damage == "missing":
        shutil.rmtree(first.path)
    elif damage == "garbage":
        current = first.path / json.loads((first.path / "current").read_text())["dir"]
        for f in current.iterdir():
            f.write_bytes(b"not an index at all" * 50)
    else:
        monkeypatch.setattr(ingested.store, "identity", lambda: "another-collection-id")
    again = KeywordIndex(ingested.settings, ingested.store)
    assert "syn-0002" in _articles(again.search(make_article(2)["title"], 5))
    assert again.stats.rebuilds == 1 and len(again) == len(first)
    assert {"missing": "no index", "garbage": "no index", "other store": "index of another store"}[
        damage] in again.stats.last_reason


def test_processes_sharing_the_index_file_each_see_the_write(ingested, corpus_file, tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    KeywordIndex(ingested.settings, ingested.store).refresh()
    assert ingested.run([str(corpus_file(3, name="more.jsonl", start=43))]).ok
    script = (
        "import json, sys\n"
        "from articleqa.settings import Settings\n"
        "from articleqa.embed import get_embedder\n"
        "from articleqa.store import Store\n"
        "from qa.keyword_index import KeywordIndex\n"
        f"s = Settings(store_path={str(ingested.settings.store.path)!r}, collection='test')\n"
        "index = KeywordIndex(s, Store(s, get_embedder(s)))\n"
        "hits = index.search(sys.argv[1], 5)\n"
        "print(json.dumps({'top': hits[0].passage_id if hits else '', 'rebuilds': index.stats.rebuilds}))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, make_article(43 + i)["title"]], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        got = json.loads(out)
        assert got["top"].startswith(f"syn-{43 + i:04d}::") and got["rebuilds"] == 0  # caught up, in turn


def test_the_planner_learns_a_new_publication_without_reading_every_record(ingested, corpus_file, monkeypatch):
    import json

    from qa.ask import Asker

    asker = Asker(ingested.settings, ingested.store)
    asker.plan("What happened?")
    article = make_article(44) | {"source": "Fjord Courier"}
    path = corpus_file(0, name="new-source.jsonl")
    path.write_text(json.dumps(article) + "\n")
    assert ingested.run([str(path)]).ok

    def every_record():
        raise AssertionError("read every article record after one write")

    monkeypatch.setattr(ingested.store, "records", every_record)
    asker.plan("What did the Fjord Courier report?")
    assert "Fjord Courier" in asker._sources_seen[1]


def test_an_ingest_leaves_this_machines_index_up_to_date(tmp_path, corpus_file, embedder):
    import shutil
    import subprocess
    import sys

    from articleqa.settings import Settings
    from articleqa.store import Store
    from tests.conftest import REPO

    settings = Settings(store_path=tmp_path / "kw", collection="test")

    def ingest(path) -> None:
        got = subprocess.run([sys.executable, "-m", "ingest", str(path), "--store", str(settings.store.path),
                              "--collection", "test", "--quiet"], capture_output=True, text=True, cwd=REPO,
                             timeout=600)
        assert got.returncode == 0, got.stderr

    def index_now() -> KeywordIndex:  # as a new process on this machine would open it
        store = Store(settings, embedder)
        store.reopen()  # another process wrote the embedded store since this one opened it
        return KeywordIndex(settings, store)

    ingest(corpus_file(4, name="bulk.jsonl"))  # a bulk ingest into a new store builds the index
    index = index_now()
    assert "syn-0002" in _articles(index.search(make_article(2)["title"], 5))
    assert index.stats.rebuilds == 0 and index.stats.catchups == 0
    ingest(corpus_file(1, name="one.jsonl", start=10))  # one more article: caught up by the ingest itself
    index = index_now()
    assert "syn-0010" in _articles(index.search(make_article(10)["title"], 5))
    assert index.stats.rebuilds == 0 and index.stats.articles_applied == 0
    shutil.rmtree(index.path)  # no index on this machine: a small ingest leaves the build to the first question
    ingest(corpus_file(1, name="two.jsonl", start=11))
    assert not (index.path / "current").exists()
    index = index_now()
    assert "syn-0011" in _articles(index.search(make_article(11)["title"], 5)) and index.stats.rebuilds == 1
