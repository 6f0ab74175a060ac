"""What dedup and "unchanged" detection need of the stored articles, cached per store in SQLite, caught up from the
store's change log, so an ingest run's fixed cost does not grow with the store.

Chroma stays the only source of truth. The cache (`<cache_dir>/fingerprints-<collection>-<tag>.sqlite3`) holds, per
stored article: the content hash its record commits to, its passage count, its normalised-text hash and MinHash
signature, and the signature's LSH band keys (an index table, so a near-duplicate lookup reads a few rows instead of
loading every signature into an in-memory LSH: measured in docs/scaling.md). Like the keyword index
(qa/keyword_index.py) it remembers the last change-log sequence number it applied and re-reads from Chroma, by id,
only the articles named by newer entries; it is rebuilt from every record (with a progress bar) only when missing,
corrupt, of another store, format or duplicate threshold, or the store has no change log.

Why a row's hash can be trusted: the row stores the record's `hash`, which is what `Store.recover()` converges to
(a pending record keeps the passages of its `hash` and a record without one is deleted). Every step that settles a
pending record logs its article before clearing the mark (`Store.write`, `recover`, `delete_article`), and an ingest
runs `recover()` before it catches up, so a kill that left an article pending is re-read after it was repaired. A
row read while another writer's mark was still set (server mode) is kept with `pending`: its signature still counts
for deduplication, as the record did before this cache, but it never makes an article "unchanged".

One file per store and machine, shared by every process: a catch-up or rebuild holds a file lock (one process
applies a change, the others then find it applied) and is one SQLite transaction that also moves the applied
sequence number, so a kill mid-catch-up commits nothing. Lookups read committed rows (WAL) without waiting.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from articleqa.lock import file_lock
from articleqa.settings import Settings
from articleqa.store import CHANGE_OVERLAP, ArticleRecord, Store
from ingest import dedup

log = logging.getLogger(__name__)
T = TypeVar("T")

FORMAT = "fingerprints-1"  # bump when the schema or the signature scheme changes: older caches are rebuilt
_SCHEMA = """
CREATE TABLE IF NOT EXISTS article(
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,          -- the content hash the record commits to (what recover() converges to)
    pending INTEGER NOT NULL,    -- 1: another writer's mark was set when the row was read
    passages INTEGER NOT NULL,
    text_hash TEXT NOT NULL,
    minhash BLOB NOT NULL        -- NUM_PERM little-endian uint32, or empty
);
CREATE INDEX IF NOT EXISTS article_text ON article(text_hash);
CREATE TABLE IF NOT EXISTS band(key INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (key, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state(k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


@dataclass
class Stored:
    """What the cache knows of one stored article."""

    id: str
    hash: str
    pending: bool
    passages: int


@dataclass
class CacheStats:
    """What the cache did in this process (tests assert the rebuild path was or was not taken)."""

    rebuilds: int = 0
    catchups: int = 0
    articles_applied: int = 0
    reasons: list[str] = field(default_factory=list)


class Fingerprints:
    """The stored articles' hashes and MinHash signatures for one store, kept in step through its change log."""

    def __init__(self, settings: Settings, store: Store):
        self.store = store
        self.threshold = settings.ingest.near_duplicate_threshold
        self.bands = dedup.lsh_bands(self.threshold)
        key = settings.store.chroma_url or str(Path(settings.store.path).resolve())
        tag = hashlib.sha1(f"{key}|{settings.store.collection}".encode()).hexdigest()[:10]
        self.path = settings.resolved_cache_dir() / f"fingerprints-{settings.store.collection}-{tag}.sqlite3"
        self.stats = CacheStats()
        self._db: sqlite3.Connection | None = None
        self.in_memory = False  # the file could not be used: this process keeps the cache in memory

    # ---- keeping in step -------------------------------------------------------------------------------------
    def sync(self) -> None:
        """Catch up with the store's change log, or rebuild the cache when it cannot be caught up.

        A damaged file is replaced. A cache that cannot be written at all (disk full, I/O error) is kept in memory
        for this run instead, filled from every record as before this cache existed: slower, never wrong.
        """
        token, seq = self.store.change_state()
        if self.in_memory:
            self._apply(self._connect(), token, seq)
            return
        try:
            with file_lock(self._folder() / f"{self.path.name}.lock"):  # one process changes the cache at a time
                try:
                    self._apply(self._connect(), token, seq)
                except sqlite3.DatabaseError as exc:
                    if isinstance(exc, sqlite3.OperationalError):
                        raise
                    self._discard(f"unreadable cache ({exc})")  # not a database, damaged: start afresh
                    self._apply(self._connect(), token, seq)
        except (sqlite3.OperationalError, OSError) as exc:
            self.to_memory(exc)
            self._apply(self._connect(), token, seq)

    def to_memory(self, exc: BaseException) -> None:
        """Give up the cache file for this process (it cannot be written or read): keep the cache in memory."""
        log.warning("fingerprint cache %s not usable (%s); this run reads every article record instead", self.path,
                    exc)
        self.close()
        self.in_memory = True

    def _apply(self, db: sqlite3.Connection, token: str, seq: int | None) -> None:
        have = self._state(db)
        reason = self._stale_reason(have, token, seq) if have is not None else "no cache"
        if reason:
            self._rebuild(db, token, seq, reason)
        elif have is not None and have.get("token") != token:
            self._catch_up(db, have, token)
        self._refresh_pending(db)

    def _refresh_pending(self, db: sqlite3.Connection) -> None:
        """Re-read the articles cached while another writer's mark was set. That writer logs an article before it
        clears the mark, and nothing after: a catch-up that read the article in between would keep it pending for
        ever (seen with two ingests on one server), so pending rows are re-read at every sync; there are few."""
        ids = [row[0] for row in db.execute("SELECT id FROM article WHERE pending = 1")]
        if ids:
            with _transaction(db):
                self._reread(db, ids)

    def _reread(self, db: sqlite3.Connection, article_ids: list[str]) -> None:
        """Replace these articles' rows with their records as the store holds them now (none when it holds none)."""
        records = self.store.records_by_id(article_ids)
        for article_id in article_ids:
            self._drop(db, article_id)
            rec = records.get(article_id)
            if rec is not None:
                self._put(db, rec)

    def _stale_reason(self, have: dict, token: str, seq: int | None) -> str:
        if have.get("format") != FORMAT:
            return "cache of another format"
        if have.get("store") != self.store.identity():
            return "cache of another store"
        if have.get("bands") != list(self.bands):
            return "cache of another near-duplicate threshold"
        if seq is None:
            return "" if have.get("token") == token else "store written without a change log"
        if int(have.get("seq") or 0) - CHANGE_OVERLAP > seq:
            return "cache ahead of the store (restored from a backup?)"
        return ""

    def _catch_up(self, db: sqlite3.Connection, have: dict, token: str) -> None:
        todo = self.store.follow_up(int(have.get("seq") or 0), list(have.get("applied") or []))
        with _transaction(db):
            self._reread(db, todo.articles)
            self._put_state(db, {**have, "token": token, "seq": todo.seq, "applied": todo.applied})
        self.stats.catchups += 1
        self.stats.articles_applied += len(todo.articles)

    def _rebuild(self, db: sqlite3.Connection, token: str, seq: int | None, reason: str) -> None:
        """Read every article record from Chroma into the cache, in one transaction (others read the old rows)."""
        from tqdm.auto import tqdm

        log.info("fingerprint cache: full rebuild of %s (%s)", self.path, reason)
        self.stats.rebuilds += 1
        self.stats.reasons.append(reason)
        # Entries already logged are in what follows; later ones (or a racing writer's) are caught up after.
        logged = [c.id for c in self.store.changes_since((seq or 0) - CHANGE_OVERLAP)] if seq is not None else []
        total = self.store.articles.count()
        with _transaction(db), tqdm(total=total, desc="article fingerprints", unit="article", disable=None,
                                    leave=False) as bar:
            db.execute("DELETE FROM band")
            db.execute("DELETE FROM article")
            for page in self.store.iter_records():
                for rec in page:
                    self._put(db, rec)
                bar.update(len(page))
            self._put_state(db, {"format": FORMAT, "store": self.store.identity(), "bands": list(self.bands),
                                 "token": token, "seq": seq or 0, "applied": logged})

    def _put(self, db: sqlite3.Connection, rec: ArticleRecord) -> None:
        if not rec.hash:  # a first write in flight, or a delete: recover() removes such a record
            return
        sig = _signature(rec.minhash)
        n = db.execute(
            "INSERT INTO article(id, hash, pending, passages, text_hash, minhash) VALUES (?, ?, ?, ?, ?, ?)",
            (rec.id, rec.hash, int(bool(rec.pending)), int(rec.passages or 0), rec.text_hash or "",
             sig.astype("<u4").tobytes() if sig is not None else b""),
        ).lastrowid
        if sig is not None:
            db.executemany("INSERT OR IGNORE INTO band(key, n) VALUES (?, ?)",
                           [(k, n) for k in dedup.band_keys(sig, *self.bands)])

    def _drop(self, db: sqlite3.Connection, article_id: str) -> None:
        row = db.execute("SELECT n, minhash FROM article WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            return
        n, blob = row
        sig = _from_blob(blob)
        if sig is not None:
            keys = dedup.band_keys(sig, *self.bands)
            db.executemany("DELETE FROM band WHERE key = ? AND n = ?", [(k, n) for k in keys])
        db.execute("DELETE FROM article WHERE n = ?", (n,))

    # ---- lookups ---------------------------------------------------------------------------------------------
    def get(self, article_id: str) -> Stored | None:
        """What the cache holds for this article id, or None when no committed record was seen."""
        row = self._conn().execute("SELECT hash, pending, passages FROM article WHERE id = ?", (article_id,)).fetchone()
        return Stored(article_id, row[0], bool(row[1]), int(row[2])) if row else None

    def same_text(self, text_hash: str) -> list[str]:
        """Ids of stored articles whose normalised text has this hash."""
        if not text_hash:
            return []
        rows = self._conn().execute("SELECT id FROM article WHERE text_hash = ? ORDER BY id", (text_hash,))
        return [r[0] for r in rows]

    def candidates(self, sig: np.ndarray) -> dict[str, np.ndarray]:
        """Stored articles sharing at least one LSH band with `sig`, with their signatures."""
        keys = dedup.band_keys(sig, *self.bands)
        marks = ",".join("?" * len(keys))
        rows = self._conn().execute(
            f"SELECT id, minhash FROM article WHERE n IN (SELECT n FROM band WHERE key IN ({marks}))", keys
        )
        out = {}
        for article_id, blob in rows:
            other = _from_blob(blob)
            if other is not None:
                out[article_id] = other
        return out

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM article").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- files and state -------------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        return self._db if self._db is not None else self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            where = ":memory:" if self.in_memory else self.path
            db = sqlite3.connect(where, timeout=60, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")  # lookups of other processes go on during a catch-up
                db.execute("PRAGMA synchronous=NORMAL")  # a lost last transaction is caught up again, never corrupt
                db.execute("PRAGMA journal_size_limit=4194304")  # a rebuild's WAL shrinks back once checkpointed
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _state(self, db: sqlite3.Connection) -> dict | None:
        rows = dict(db.execute("SELECT k, v FROM state").fetchall())
        return {k: json.loads(v) for k, v in rows.items()} if rows.get("format") else None

    @staticmethod
    def _put_state(db: sqlite3.Connection, state: dict) -> None:
        db.execute("DELETE FROM state")
        db.executemany("INSERT INTO state(k, v) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in state.items()])

    def _discard(self, reason: str) -> None:
        log.warning("fingerprint cache %s: %s; rebuilding it", self.path, reason)
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _folder(self) -> Path:
        """The cache folder, or a private temporary one when it cannot be written."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            pass
        private = Path(tempfile.mkdtemp(prefix="articleqa-fingerprints-"))
        atexit.register(shutil.rmtree, private, True)
        self.path = private / self.path.name
        return private


def _signature(minhash: str) -> np.ndarray | None:
    if not minhash:
        return None
    try:
        sig = dedup.decode(minhash)
    except ValueError:
        return None
    return sig if len(sig) == dedup.NUM_PERM else None


def _from_blob(blob: bytes) -> np.ndarray | None:
    if not blob or len(blob) != dedup.NUM_PERM * 4:
        return None
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed when the block ends, rolled back when it raises (or the process dies)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")



class KnownArticles:
    """The stored articles as one ingest run sees them: the cache, plus the articles this run queued meanwhile.

    An article this run stores replaces its cached fingerprint for the rest of the run (the cache itself learns it
    from the change log at the run's end), so a later input is compared with the new version, never the old.
    """

    def __init__(self, settings: Settings, store: Store):
        self.threshold = settings.ingest.near_duplicate_threshold
        self.cache = Fingerprints(settings, store)
        self.cache.sync()
        self.run = dedup.DuplicateFinder(self.threshold)
        self._replaced: set[str] = set()

    def unchanged(self, article_id: str, digest: str) -> Stored | None:
        """The cached article when it is committed with content hash `digest` (so need not be written again)."""
        got = self._read(lambda: self.cache.get(article_id))
        return got if got is not None and not got.pending and got.hash == digest else None

    def _read(self, lookup: Callable[[], T]) -> T:
        try:
            return lookup()
        except sqlite3.Error as exc:  # the file failed mid-run (damaged, I/O error): go on from memory
            self.cache.to_memory(exc)
            self.cache.sync()
            return lookup()

    def find(self, article_id: str, sig: np.ndarray, text_hash: str) -> tuple[str, float] | None:
        """The article (stored, or queued in this run; never `article_id`) this one duplicates, with the similarity.

        The same text (normalised) wins over a near-duplicate, and this run's articles over the stored ones, as
        when every stored signature was loaded into one `dedup.DuplicateFinder`.
        """
        exact = self.run.same_text(article_id, text_hash)
        if exact is None:
            same = self._read(lambda: self.cache.same_text(text_hash))
            exact = next((c for c in same if self._stored_counts(c, article_id)), None)
        if exact is not None:
            return exact, 1.0
        sims = self.run.similarities(article_id, sig)
        for c, other in self._read(lambda: self.cache.candidates(sig)).items():
            if self._stored_counts(c, article_id) and c not in sims:
                sims[c] = dedup.similarity(other, sig)
        return dedup.best_match(sims, self.threshold)

    def add(self, article_id: str, sig: np.ndarray, text_hash: str) -> None:
        """This run stores `article_id` with this signature: it replaces the cached one for the rest of the run."""
        self._replaced.add(article_id)
        self.run.remove(article_id)
        self.run.add(article_id, sig, text_hash)

    def _stored_counts(self, candidate: str, article_id: str) -> bool:
        return candidate != article_id and candidate not in self._replaced

    def finish(self) -> None:
        """Catch the cache up with what this run wrote (so the next run starts at once), then let go of it."""
        try:
            if not self.cache.in_memory:  # an in-memory cache dies with the run
                self.cache.sync()
        finally:
            self.cache.close()
