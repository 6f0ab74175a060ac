"""The fingerprint cache (ingest/fingerprints.py) over a real Chroma store with the real model: an ingest run reads
only its own articles' records, follows other processes' writes and deletes through the change log, never takes an
article left pending by a kill for stored, and rebuilds a missing, corrupt or foreign cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from articleqa.store import Store
from ingest import dedup
from ingest.fingerprints import Fingerprints, KnownArticles
from ingest.pipeline import Ingestor
from tests.conftest import REPO, make_article

pytestmark = pytest.mark.slow


def _write(path: Path, articles: list[dict]) -> str:
    path.write_text("".join(json.dumps(a) + "\n" for a in articles))
    return str(path)


def _near_copy(i: int, new_id: str) -> dict:
    """Article `i` syndicated under another id: one sentence added (similarity ~0.9)."""
    a = make_article(i)
    return {**a, "id": new_id, "url": f"https://elsewhere.example.test/{new_id}",
            "text": a["text"] + "\nThe report was shared by a partner agency on Tuesday."}


def _changed(i: int) -> dict:
    a = make_article(i)
    return {**a, "text": a["text"].replace("on Monday", "on Wednesday evening")}


def _statuses(report) -> dict[str, str]:
    return {i.article_id: i.status for i in report.items}


def _no_full_scan(monkeypatch, store: Store) -> None:
    def full_scan(*args, **kwargs):
        raise AssertionError("read every article record")

    monkeypatch.setattr(store, "records", full_scan)
    monkeypatch.setattr(store, "iter_records", full_scan)


@pytest.fixture
def stored(settings, embedder, tmp_path):
    """An embedded store holding articles 0..5, ingested once (which built the cache)."""
    ing = Ingestor(settings, embedder=embedder)
    assert ing.run([_write(tmp_path / "first.jsonl", [make_article(i) for i in range(6)])]).ok
    return ing


def test_a_later_run_reads_only_its_own_articles(stored, settings, embedder, tmp_path, monkeypatch, cache_rows,
                                                 rebuilt_rows):
    again = Ingestor(settings, store=stored.store, embedder=embedder)  # as the next `articleqa ingest` would
    _no_full_scan(monkeypatch, stored.store)
    report = again.run([_write(tmp_path / "next.jsonl",
                               [make_article(0), _near_copy(2, "wire-2"), _changed(3), make_article(9)])])
    assert _statuses(report) == {"syn-0000": "unchanged", "wire-2": "duplicate", "syn-0003": "updated",
                                 "syn-0009": "added"}
    assert "duplicate of syn-0002" in next(i.reason for i in report.items if i.article_id == "wire-2")
    assert stored.store.record("syn-0002").aliases == ["wire-2"]
    monkeypatch.undo()
    assert cache_rows(settings, stored.store) == rebuilt_rows(settings, stored.store)


def test_duplicates_within_one_run_and_of_an_article_it_replaced(stored, settings, embedder, tmp_path):
    report = Ingestor(settings, store=stored.store, embedder=embedder).run([_write(
        tmp_path / "run.jsonl",
        [make_article(20), _near_copy(20, "wire-20"),  # a duplicate of an article queued in the same run
         # 4 rewritten entirely, then its old text under another id: no longer stored, so not a duplicate
         {**make_article(50), "id": "syn-0004", "url": make_article(4)["url"]}, {**make_article(4), "id": "old-4"}])])
    assert _statuses(report) == {"syn-0020": "added", "wire-20": "duplicate", "syn-0004": "updated",
                                 "old-4": "added"}


def test_the_cache_follows_another_process_on_a_server(chroma_server, embedder, tmp_path, monkeypatch, cache_rows,
                                                       rebuilt_rows):
    here = chroma_server.settings("fp-follow").with_overrides(cache_dir=tmp_path / "cache-here")
    ing = Ingestor(here, embedder=embedder)
    assert ing.run([_write(tmp_path / "a.jsonl", [make_article(i) for i in range(4)])]).ok
    # Another machine (its own cache folder) adds two articles and deletes one.
    env = {**os.environ, "ARTICLEQA_CHROMA_URL": chroma_server.url, "ARTICLEQA_COLLECTION": "fp-follow",
           "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache-there"), "PYTHONPATH": str(REPO)}
    for cmd in (["-m", "ingest", _write(tmp_path / "b.jsonl", [make_article(10), make_article(11)]), "--quiet"],
                ["-m", "cli", "articles", "delete", "syn-0001"]):
        got = subprocess.run([sys.executable, *cmd], env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
        assert got.returncode == 0, got.stderr
    again = Ingestor(here, store=ing.store, embedder=embedder)
    _no_full_scan(monkeypatch, ing.store)
    report = again.run([_write(tmp_path / "c.jsonl", [make_article(10), _near_copy(11, "wire-11"), make_article(1)])])
    assert _statuses(report) == {"syn-0010": "unchanged", "wire-11": "duplicate", "syn-0001": "added"}
    monkeypatch.undo()
    assert cache_rows(here, ing.store) == rebuilt_rows(here, ing.store)


def test_two_processes_writing_at_once_share_one_cache_file(chroma_server, embedder, tmp_path, cache_rows,
                                                             rebuilt_rows):
    settings = chroma_server.settings("fp-shared").with_overrides(cache_dir=tmp_path / "cache")
    env = {**os.environ, "ARTICLEQA_CHROMA_URL": chroma_server.url, "ARTICLEQA_COLLECTION": "fp-shared",
           "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "ingest", "--quiet",
                               _write(tmp_path / f"{k}.jsonl", [make_article(i) for i in range(k * 5, k * 5 + 5)])],
                              env=env, stderr=subprocess.PIPE, text=True, cwd=REPO) for k in range(2)]
    for proc in procs:
        assert proc.wait(timeout=600) == 0, proc.stderr.read() if proc.stderr else ""
    store = Store(settings, embedder)
    rows = cache_rows(settings, store)
    assert [r[0] for r in rows] == [f"syn-{i:04d}" for i in range(10)]
    assert rows == rebuilt_rows(settings, store)


@pytest.mark.parametrize("dies_at", ["before the passages", "before the log entry"])
def test_a_write_killed_midway_is_never_cached_as_stored(stored, settings, embedder, tmp_path, monkeypatch,
                                                          dies_at, cache_rows, rebuilt_rows):
    store = stored.store
    before = Fingerprints(settings, store)
    before.sync()
    old_hash = before.get("syn-0002").hash
    before.close()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as SIGKILL would: nothing after this point runs

    if dies_at == "before the passages":
        monkeypatch.setattr(store.passages, "upsert", killed)
    else:
        monkeypatch.setattr(store, "log_changes", killed)
    run = [_changed(2), make_article(7)]
    with pytest.raises(KeyboardInterrupt):
        Ingestor(settings, store=store, embedder=embedder).run([_write(tmp_path / "killed.jsonl", run)])
    monkeypatch.undo()
    assert store.record("syn-0002").pending and store.record("syn-0007").pending
    # Another process catching the cache up now finds no entry for the killed write: it keeps what was committed.
    cache = Fingerprints(settings, store)
    cache.sync()
    assert cache.get("syn-0002").hash == old_hash and cache.get("syn-0007") is None
    cache.close()

    report = Ingestor(settings, store=store, embedder=embedder).run([str(tmp_path / "killed.jsonl")])
    if dies_at == "before the passages":  # rolled back by recover(): written again
        assert not report.repaired or set(report.repaired) == {"syn-0002", "syn-0007"}
        assert _statuses(report) == {"syn-0002": "updated", "syn-0007": "added"}
    else:  # rolled forward by recover(), which logged them: the cache learns their final state
        assert set(report.repaired) == {"syn-0002", "syn-0007"}
        assert _statuses(report) == {"syn-0002": "unchanged", "syn-0007": "unchanged"}
    # The store equals a clean run's, and the cache a rebuilt one.
    clean = settings.with_overrides(store_path=tmp_path / "clean", cache_dir=tmp_path / "clean-cache")
    ing = Ingestor(clean, embedder=embedder)
    assert ing.run([str(tmp_path / "first.jsonl")]).ok and ing.run([str(tmp_path / "killed.jsonl")]).ok

    def state(s: Store):
        return sorted((r.id, r.hash, r.pending, r.passages, r.text_hash, r.minhash) for r in s.records().values())

    assert state(store) == state(ing.store)
    assert cache_rows(settings, store) == rebuilt_rows(settings, store)


def test_a_row_read_while_a_write_was_in_flight_never_makes_it_unchanged(stored, settings, embedder, tmp_path,
                                                                         monkeypatch):
    store = stored.store
    monkeypatch.setattr(store, "log_changes", lambda ids: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        Ingestor(settings, store=store, embedder=embedder).run([_write(tmp_path / "k.jsonl", [make_article(8)])])
    monkeypatch.undo()
    store.log_changes(["syn-0008"])  # as another writer on a server would log while this one's mark is still set
    known = KnownArticles(settings, store)
    row = known.cache.get("syn-0008")
    assert row is not None and row.pending
    assert known.unchanged("syn-0008", store.record("syn-0008").hash) is None  # written again, never skipped
    # ...but its signature still counts for deduplication, as the record did before the cache
    sig = dedup.signature(_near_copy(8, "wire-8")["text"])
    assert known.find("wire-8", sig, "no-such-hash")[0] == "syn-0008"
    known.finish()


def test_a_catch_up_killed_midway_commits_nothing(stored, settings, embedder, tmp_path, monkeypatch, cache_rows,
                                                  rebuilt_rows):
    first = Fingerprints(settings, stored.store)
    first.sync()
    first.close()
    other = settings.with_overrides(cache_dir=tmp_path / "elsewhere")  # another machine writes two articles
    assert Ingestor(other, store=stored.store, embedder=embedder).run(
        [_write(tmp_path / "more.jsonl", [make_article(30), make_article(31)])]).ok
    cache = Fingerprints(settings, stored.store)
    real = cache._put

    def dies(db, rec):
        real(db, rec)
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_put", dies)
    with pytest.raises(KeyboardInterrupt):
        cache.sync()
    monkeypatch.undo()
    cache.close()
    again = Fingerprints(settings, stored.store)
    again.sync()
    assert again.stats.rebuilds == 0 and again.stats.articles_applied == 2
    assert again.get("syn-0030") is not None and again.get("syn-0031") is not None
    again.close()
    assert cache_rows(settings, stored.store) == rebuilt_rows(settings, stored.store)


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "other store", "other threshold"])
def test_a_missing_corrupt_or_foreign_cache_is_rebuilt(stored, settings, embedder, tmp_path, monkeypatch, damage,
                                                       cache_rows, rebuilt_rows):
    store = stored.store
    expected = rebuilt_rows(settings, store)
    path = Fingerprints(settings, store).path
    assert path.exists()
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(os.urandom(8192))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1500])
    elif damage == "other store":
        monkeypatch.setattr(store, "identity", lambda: "another-collection-id")
    else:
        settings = settings.with_overrides(near_duplicate_threshold=0.9)
    cache = Fingerprints(settings, store)
    cache.sync()
    assert cache.stats.rebuilds == 1, cache.stats
    assert cache.stats.reasons[0] in {"no cache", "unreadable cache", "cache of another store",
                                      "cache of another near-duplicate threshold"}
    cache.close()
    if damage != "other threshold":  # band keys differ with the threshold; the articles do not
        assert cache_rows(settings, store) == expected
    # And ingest behaves as before the damage.
    report = Ingestor(settings, store=store, embedder=embedder).run(
        [_write(tmp_path / "again.jsonl", [make_article(1), _near_copy(5, "wire-5")])])
    assert _statuses(report) == {"syn-0001": "unchanged", "wire-5": "duplicate"}


def test_band_keys_find_the_candidates_datasketch_finds():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**32, dedup.NUM_PERM, dtype=np.uint64).astype(np.uint32)
    finder = dedup.DuplicateFinder(0.8)
    finder.add("base", base)
    bands = dedup.lsh_bands(0.8)
    assert bands == (16, 4)
    for changed in (1, 8, 20, 40, 64):
        other = base.copy()
        other[rng.choice(dedup.NUM_PERM, changed, replace=False)] += 1
        shared = set(dedup.band_keys(base, *bands)) & set(dedup.band_keys(other, *bands))
        assert bool(shared) == ("base" in finder.similarities("x", other)), changed


def test_a_cache_that_cannot_be_written_is_kept_in_memory_for_the_run(stored, settings, embedder, tmp_path,
                                                                      monkeypatch):
    import sqlite3

    real = Fingerprints._connect

    def disk_full(self):
        if not self.in_memory:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self)

    monkeypatch.setattr(Fingerprints, "_connect", disk_full)
    report = Ingestor(settings, store=stored.store, embedder=embedder).run(
        [_write(tmp_path / "again.jsonl", [make_article(1), _near_copy(5, "wire-5"), make_article(12)])])
    assert _statuses(report) == {"syn-0001": "unchanged", "wire-5": "duplicate", "syn-0012": "added"}


def test_a_row_cached_while_another_writer_had_it_pending_is_read_again(stored, settings, cache_rows, rebuilt_rows):
    """A writer logs an article, then clears its pending mark with no further entry: a process that caught up in
    between cached it pending. The next sync must see it committed, not keep it pending for ever."""
    fp = Fingerprints(settings, stored.store)
    fp.sync()
    fp._conn().execute("UPDATE article SET pending = 1 WHERE id = 'syn-0002'")  # what the racing catch-up cached
    assert fp.get("syn-0002").pending
    fp.sync()  # the store's change log has not moved since
    assert not fp.get("syn-0002").pending
    fp.close()
    assert cache_rows(settings, stored.store) == rebuilt_rows(settings, stored.store)
