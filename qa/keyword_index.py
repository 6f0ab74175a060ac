"""BM25 keyword index over the stored passages: an SQLite FTS5 cache derived from Chroma, caught up from its change log.

Chroma is the only source of truth. Every write appends a change-log entry (sequence number + article ids) to the
store (articleqa/store.py); the index remembers the last sequence it applied and, before a search, re-reads from
Chroma only the articles named by newer entries. A full rebuild (with a progress bar) happens only when the index file
is missing, corrupt, of another store or format, or the store was written by a version without a change log.

One index file per store under the cache folder, shared by every process on the machine: catch-up is one SQLite
transaction (BEGIN IMMEDIATE: one process applies, the others wait and then find nothing left to do), searches read
in WAL mode without waiting for it, and a kill mid-catch-up rolls back. Passages are indexed pre-tokenised with
today's analysis (bm25s English stopwords + Snowball stems, articleqa/text.py), so the ranking is bm25s's
(docs/scaling.md compares the two).
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from articleqa.settings import Settings
from articleqa.store import Store, date_ordinal
from articleqa.text import new_stemmer

log = logging.getLogger(__name__)

FORMAT = "fts5-1"  # bump when the schema or the tokenisation changes: older files are rebuilt
OVERLAP = 64  # change-log numbers re-read behind the last applied one (two server writers may share a number)
_PAGE = 2000
_SCHEMA = """
CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE passages(rowid INTEGER PRIMARY KEY, pid TEXT UNIQUE, article_id TEXT, source TEXT, date INTEGER);
CREATE INDEX passages_article ON passages(article_id);
CREATE VIRTUAL TABLE fts USING fts5(body, tokenize="unicode61 remove_diacritics 0 tokenchars '_'");
"""


@dataclass
class KeywordHit:
    passage_id: str
    score: float


@dataclass
class IndexStats:
    """What the index did in this process (tests assert the rebuild path was not taken)."""

    rebuilds: int = 0
    catchups: int = 0
    articles_applied: int = 0
    last_reason: str = ""
    reasons: list[str] = field(default_factory=list)


@dataclass
class _Row:
    pid: str
    article_id: str
    source: str
    date: int
    hash: str  # the content hash the passage was written with
    body: str = ""


class KeywordIndex:
    """BM25 (SQLite FTS5 over bm25s-tokenised title + text) kept in step with the store through its change log."""

    def __init__(self, settings: Settings, store: Store):
        self.store = store
        key = settings.store.chroma_url or str(Path(settings.store.path).resolve())
        tag = hashlib.sha1(f"{key}|{settings.store.collection}".encode()).hexdigest()[:10]
        self.path = settings.resolved_cache_dir() / f"keyword-{settings.store.collection}-{tag}.sqlite3"
        self.stats = IndexStats()
        self._seen: tuple[str, int | None] | None = None  # the store state this process last caught up to
        self._lock = threading.Lock()
        self._writers = 0  # in-process writes in progress (see `deferred`)
        self._writers_lock = threading.Lock()
        self._local = threading.local()  # one read connection per thread (sqlite3 connections are not shared)
        self._stem_lock = threading.Lock()
        self._stemmer = None
        self._count = 0

    # ---- keeping in step -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Catch up with the store's change log (or rebuild when the index cannot be caught up)."""
        state = self.store.change_state()
        if state == self._seen:
            return
        if self._writers and self._seen is not None:
            # An in-process write (see `deferred`) has not returned yet: its flushes are caught up once, when it ends.
            return
        self._sync(state)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Wrap an in-process write (ingest, delete): questions meanwhile search the index as it was; on leaving it
        is caught up, so questions asked after the write returned see it."""
        with self._writers_lock:
            self._writers += 1
        try:
            yield
        finally:
            try:
                self._sync(self.store.change_state())
            except Exception:  # noqa: BLE001 - never mask the write's outcome; the next search catches up instead
                pass
            finally:
                with self._writers_lock:
                    self._writers -= 1

    def _sync(self, state: tuple[str, int | None]) -> None:
        with self._lock:
            if state == self._seen:
                return
            try:
                self._catch_up(state)
            except sqlite3.DatabaseError as exc:  # corrupt or foreign file: start again from Chroma
                self._rebuild(state, f"unreadable index ({exc})")
            self._seen = state

    def _catch_up(self, state: tuple[str, int | None]) -> None:
        token, seq = state
        conn = self._writer()
        if conn is None:
            self._rebuild(state, "no index file")
            return
        try:
            conn.execute("BEGIN IMMEDIATE")  # one process applies a change; the others wait, then find it applied
            have = dict(conn.execute("SELECT key, value FROM state").fetchall())
            reason = self._stale_reason(have, token, seq)
            if reason:
                conn.rollback()
                self._rebuild(state, reason)
                return
            if have.get("token") == token:
                conn.rollback()
                self._count = self._passages(conn)
                return
            last = int(have.get("seq") or 0)
            applied = set(json.loads(have.get("applied") or "[]"))
            fresh = [c for c in self.store.changes_since(last - OVERLAP) if c.id not in applied]
            ids = sorted({a for c in fresh for a in c.articles})
            self._apply(conn, ids)
            top = max([last, *(c.seq for c in fresh)])
            recent = sorted(applied | {c.id for c in fresh})
            recent = [cid for cid in recent if _seq_of(cid) > top - OVERLAP]
            _put_state(conn, {"seq": str(top), "token": token, "applied": json.dumps(recent)})
            conn.commit()
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        finally:
            conn.close()
        self.stats.catchups += 1
        self.stats.articles_applied += len(ids)
        self._count = self._passages(self._reader())

    def _stale_reason(self, have: dict[str, str], token: str, seq: int | None) -> str:
        if have.get("format") != FORMAT:
            return "index of another format"
        if have.get("store") != self.store.identity():
            return "index of another store"
        if seq is None:
            return "" if have.get("token") == token else "store written without a change log"
        if int(have.get("seq") or 0) - OVERLAP > seq:
            return "index ahead of the store (restored from a backup?)"
        return ""

    def _apply(self, conn: sqlite3.Connection, article_ids: list[str]) -> None:
        """Re-read `article_ids` from Chroma and replace their rows (an article gone from the store leaves none)."""
        for i in range(0, len(article_ids), 200):
            chunk = article_ids[i : i + 200]
            rows = self._read_articles(chunk)
            marks = ",".join("?" * len(chunk))
            old = [r for (r,) in conn.execute(f"SELECT rowid FROM passages WHERE article_id IN ({marks})", chunk)]
            conn.executemany("DELETE FROM fts WHERE rowid = ?", [(r,) for r in old])
            conn.executemany("DELETE FROM passages WHERE rowid = ?", [(r,) for r in old])
            _insert(conn, rows)

    def _read_articles(self, article_ids: list[str]) -> list[_Row]:
        """The committed passages of these articles (a write in flight on a server shows its old version)."""
        got = self.store.articles.get(ids=article_ids, include=["metadatas"])
        committed = {rid: (m or {}).get("hash", "") for rid, m in zip(got["ids"], got["metadatas"] or [], strict=False)}
        committed = {rid: h for rid, h in committed.items() if h}
        if not committed:
            return []
        rows: list[_Row] = []
        offset = 0
        while True:
            page = self.store.passages.get(where={"article_id": {"$in": sorted(committed)}},
                                           include=["documents", "metadatas"], limit=_PAGE, offset=offset)
            rows += [r for r in self._rows(page["ids"], page["documents"], page["metadatas"])
                     if committed.get(r.article_id) == r.hash]
            if len(page["ids"]) < _PAGE:
                return rows
            offset += _PAGE

    def _rows(self, ids: list[str], docs: list[str | None], metas: list[dict | None]) -> list[_Row]:
        out = []
        texts = []
        for pid, doc, meta in zip(ids, docs, metas, strict=False):
            m = meta or {}
            day = int(m.get("date_ts") or date_ordinal(str(m.get("date", ""))))
            out.append(_Row(pid, str(m.get("article_id", "")), str(m.get("source", "")), day,
                            str(m.get("content_hash", ""))))
            texts.append(f"{m.get('title', '')}\n{doc or ''}")
        for row, tokens in zip(out, self._tokenize(texts, new_stemmer()), strict=True):
            row.body = " ".join(tokens)
        return out

    def _rebuild(self, state: tuple[str, int | None], reason: str) -> None:
        """Index every passage in Chroma into a new file, then swap it in atomically (others keep the old meanwhile)."""
        from tqdm.auto import tqdm

        token, seq = state
        log.info("keyword index: full rebuild of %s (%s)", self.path, reason)
        self.stats.rebuilds += 1
        self.stats.last_reason = reason
        self.stats.reasons.append(reason)
        folder = self._folder()
        with _file_lock(folder / (self.path.name + ".rebuild")):
            if self._current(token, seq):  # another process rebuilt it while this one waited
                return
            tmp = Path(tempfile.mkstemp(prefix=self.path.name + ".", suffix=".building", dir=folder)[1])
            try:
                conn = sqlite3.connect(tmp)
                conn.executescript(_SCHEMA)
                total = self.store.count_passages()
                committed = {rid: r.hash for rid, r in self.store.records().items()}
                with tqdm(total=total, desc="keyword index", unit="passage", disable=None, leave=False) as bar:
                    for ids, docs, metas in self.store.iter_passages(_PAGE):
                        rows = self._rows(ids, docs, metas)
                        _insert(conn, [r for r in rows if committed.get(r.article_id) == r.hash and r.hash])
                        bar.update(len(ids))
                _put_state(conn, {"format": FORMAT, "store": self.store.identity(), "token": token,
                                  "seq": str(seq or 0), "applied": "[]"})
                conn.execute("INSERT INTO fts(fts) VALUES('optimize')")
                conn.commit()
                conn.close()
                os.replace(tmp, self.path)
                for suffix in ("-wal", "-shm"):  # those of the replaced file would be applied to the new one
                    Path(str(self.path) + suffix).unlink(missing_ok=True)
            finally:
                tmp.unlink(missing_ok=True)
        self._local.__dict__.clear()
        self._count = self._passages(self._reader())

    def _current(self, token: str, seq: int | None) -> bool:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                have = dict(conn.execute("SELECT key, value FROM state").fetchall())
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return False
        return not self._stale_reason(have, token, seq) and have.get("token") == token

    # ---- files and connections -------------------------------------------------------------------------------
    def _folder(self) -> Path:
        """The cache folder, or a private temporary one when it cannot be written (a read-only store)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if os.access(self.path.parent, os.W_OK):
                return self.path.parent
        except OSError:
            pass
        private = Path(tempfile.mkdtemp(prefix="articleqa-keyword-"))
        atexit.register(shutil.rmtree, private, True)
        self.path = private / self.path.name
        return private

    def _writer(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash may lose the last catch-up, never corrupt
        return conn

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection, reopened when a rebuild replaced the file."""
        ino = os.stat(self.path).st_ino
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "ino", None) != ino:
            if conn is not None:
                conn.close()
            conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self._local.conn, self._local.ino = conn, ino
        return conn

    @staticmethod
    def _passages(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM passages").fetchone()[0])

    def _tokenize(self, texts: list[str], stemmer) -> list[list[str]]:
        import bm25s

        if not texts:
            return []
        return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)

    # ---- search --------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    def search(
        self, query: str, k: int, source: str | None = None, since: int | None = None, until: int | None = None
    ) -> list[KeywordHit]:
        """Top-k passages by BM25 for `query`, optionally restricted by source and date-ordinal range."""
        self.refresh()
        with self._stem_lock:  # PyStemmer objects are not thread-safe and questions are answered in parallel
            if self._stemmer is None:
                self._stemmer = new_stemmer()
            tokens = self._tokenize([query], self._stemmer)
        words = tokens[0] if tokens else []
        if not words or not self._count:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        sql = ("SELECT p.pid, -bm25(fts) AS s FROM fts JOIN passages p ON p.rowid = fts.rowid "
               "WHERE fts MATCH ?")
        args: list[object] = [match]
        if source:
            sql += " AND p.source = ? COLLATE NOCASE"
            args.append(source)
        if since:
            sql += " AND p.date >= ?"
            args.append(since)
        if until:
            sql += " AND p.date <= ? AND p.date > 0"
            args.append(until)
        sql += " ORDER BY bm25(fts) LIMIT ?"
        args.append(k)
        try:
            found = self._reader().execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            self._seen = None  # corrupted under us: the next search rebuilds
            log.warning("keyword index %s unreadable (%s); it will be rebuilt", self.path, exc)
            return []
        return [KeywordHit(pid, float(s)) for pid, s in found if s > 0]


def _insert(conn: sqlite3.Connection, rows: list[_Row]) -> None:
    for r in rows:
        cur = conn.execute("INSERT INTO passages(pid, article_id, source, date) VALUES (?, ?, ?, ?)",
                           (r.pid, r.article_id, r.source, r.date))
        conn.execute("INSERT INTO fts(rowid, body) VALUES (?, ?)", (cur.lastrowid, r.body))


def _put_state(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", list(values.items()))


def _seq_of(change_id: str) -> int:
    try:
        return int(change_id.split("-")[1])
    except (IndexError, ValueError):
        return 0


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
