"""BM25 keyword index over the stored passages: a tantivy index derived from Chroma, caught up from its change log.

Chroma is the only source of truth. Every write appends a change-log entry (sequence number + article ids) to the
store (articleqa/store.py); the index remembers the last sequence it applied and, before a search, re-reads from
Chroma only the articles named by newer entries. A full rebuild (with a progress bar) happens only when the index is
missing, corrupt, of another store or format, or the store was written by a version without a change log.

One index per store under the cache folder, shared by every process on the machine. A catch-up holds a file lock
(one process applies a change; the others wait, then find it applied) and is one tantivy commit, which also holds the
last applied sequence number (a state document): a kill mid-catch-up commits nothing. Searches read committed
segments without waiting. A rebuild writes a new index folder and swaps the `current` pointer, so processes keep
searching the old one meanwhile. Passages are indexed pre-tokenised with today's analysis (bm25s English stopwords +
Snowball stems, articleqa/text.py); why tantivy and not SQLite FTS5 or bm25s: docs/scaling.md.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from articleqa.lock import file_lock
from articleqa.settings import Settings
from articleqa.store import CHANGE_OVERLAP, Store, date_ordinal
from articleqa.text import new_stemmer

log = logging.getLogger(__name__)

FORMAT = "tantivy-1"  # bump when the schema or the tokenisation changes: older indexes are rebuilt
OVERLAP = CHANGE_OVERLAP  # change-log numbers re-read behind the last applied one (two server writers may share one)
_PAGE = 2000
_HEAP = 64_000_000  # tantivy writer memory (bytes) before it flushes a segment


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


def _schema():
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("body", stored=False, tokenizer_name="whitespace")  # already stemmed, stopwords removed
    sb.add_text_field("pid", stored=True, tokenizer_name="raw")
    sb.add_text_field("article", stored=False, tokenizer_name="raw")
    sb.add_text_field("source", stored=False, tokenizer_name="raw")  # lower-cased
    sb.add_integer_field("date", stored=False, indexed=True, fast=True)
    sb.add_text_field("kind", stored=False, tokenizer_name="raw")  # "passage", or "state" for the one state document
    sb.add_text_field("state", stored=True, tokenizer_name="raw")
    return sb.build()


class KeywordIndex:
    """BM25 (tantivy over bm25s-tokenised title + text) kept in step with the store through its change log."""

    def __init__(self, settings: Settings, store: Store):
        self.store = store
        key = settings.store.chroma_url or str(Path(settings.store.path).resolve())
        tag = hashlib.sha1(f"{key}|{settings.store.collection}".encode()).hexdigest()[:10]
        self.path = settings.resolved_cache_dir() / f"keyword-{settings.store.collection}-{tag}"
        self.stats = IndexStats()
        self._seen: tuple[str, int | None] | None = None  # the store state this process last caught up to
        self._lock = threading.Lock()
        self._writers = 0  # in-process writes in progress (see `deferred`)
        self._writers_lock = threading.Lock()
        self._stem_lock = threading.Lock()
        self._stemmer = None
        self._schema = None
        self._index = None  # (folder name, tantivy.Index) this process searches
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

    def after_write(self, passages_written: int) -> bool:
        """Catch up with a write this process just made (an ingest), so that no process here pays for it later.

        A catch-up costs time in proportion to what was written. An index that must be rebuilt (missing, unusable,
        stale) is built only when the write holds at least half the store's passages, e.g. a bulk ingest into a new
        store, so the build costs at most twice indexing what was written; otherwise it is left to the first
        question, as before. Returns whether the index is now up to date.
        """
        def worth_rebuilding() -> bool:
            return 2 * passages_written >= self.store.count_passages()

        self._sync(self.store.change_state(), may_rebuild=worth_rebuilding)
        return self._seen is not None

    def _sync(self, state: tuple[str, int | None], may_rebuild: Callable[[], bool] | None = None) -> None:
        with self._lock:
            if state == self._seen:
                return
            folder = self._folder()
            with file_lock(folder / ".catchup.lock"):  # one process changes the index at a time
                index = self._open()
                have = self._state(index) if index is not None else None
                if have is None:
                    reason = "no index" if index is None else "unreadable index"
                else:
                    reason = self._stale_reason(have, *state)
                if reason:
                    if may_rebuild is not None and not may_rebuild():
                        return
                    self._rebuild(state, reason)
                elif have is not None and have.get("token") != state[0]:
                    self._catch_up(index, have, state)
                elif index is not None:  # another process caught up already
                    self._count = self._passages(index)
            self._seen = state

    def _catch_up(self, index, have: dict, state: tuple[str, int | None]) -> None:
        token, _ = state
        todo = self.store.follow_up(int(have.get("seq") or 0), list(have.get("applied") or []))
        ids, top, recent = todo.articles, todo.seq, todo.applied
        rows = self._read_articles(ids)
        with self._writer(index) as writer:
            for article_id in ids:
                writer.delete_documents_by_term("article", article_id)
            self._add(writer, rows)
            self._put_state(writer, {**have, "seq": top, "token": token, "applied": recent})
        index.reload()
        self._count = self._passages(index)
        self.stats.catchups += 1
        self.stats.articles_applied += len(ids)

    def _stale_reason(self, have: dict, token: str, seq: int | None) -> str:
        if have.get("format") != FORMAT:
            return "index of another format"
        if have.get("store") != self.store.identity():
            return "index of another store"
        if seq is None:
            return "" if have.get("token") == token else "store written without a change log"
        if int(have.get("seq") or 0) - OVERLAP > seq:
            return "index ahead of the store (restored from a backup?)"
        return ""

    def _read_articles(self, article_ids: list[str]) -> list[_Row]:
        """The committed passages of these articles (a write in flight on a server shows its old version)."""
        rows: list[_Row] = []
        for i in range(0, len(article_ids), 200):
            chunk = article_ids[i : i + 200]
            got = self.store.articles.get(ids=chunk, include=["metadatas"])
            committed = {rid: (m or {}).get("hash", "") for rid, m in zip(got["ids"], got["metadatas"] or [],
                                                                          strict=False)}
            committed = {rid: h for rid, h in committed.items() if h}
            offset = 0
            while committed:
                page = self.store.passages.get(where={"article_id": {"$in": sorted(committed)}},
                                               include=["documents", "metadatas"], limit=_PAGE, offset=offset)
                rows += [r for r in self._rows(page["ids"], page["documents"], page["metadatas"])
                         if committed.get(r.article_id) == r.hash]
                if len(page["ids"]) < _PAGE:
                    break
                offset += _PAGE
        return rows

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
        """Index every passage in Chroma into a new folder, then swap the pointer (others keep the old meanwhile)."""
        import tantivy
        from tqdm.auto import tqdm

        token, seq = state
        log.info("keyword index: full rebuild of %s (%s)", self.path, reason)
        self.stats.rebuilds += 1
        self.stats.last_reason = reason
        self.stats.reasons.append(reason)
        name = f"idx-{uuid.uuid4().hex[:12]}"
        target = self.path / name
        target.mkdir(parents=True)
        try:
            index = tantivy.Index(self._schema_(), path=str(target))
            total = self.store.count_passages()
            # Entries already logged are in what follows; later ones (or a racing writer's) are caught up after.
            logged = [c.id for c in self.store.changes_since((seq or 0) - OVERLAP)] if seq is not None else []
            committed = {rid: r.hash for rid, r in self.store.records().items()}
            with self._writer(index) as writer, tqdm(total=total, desc="keyword index", unit="passage",
                                                      disable=None, leave=False) as bar:
                for ids, docs, metas in self.store.iter_passages(_PAGE):
                    rows = self._rows(ids, docs, metas)
                    self._add(writer, [r for r in rows if r.hash and committed.get(r.article_id) == r.hash])
                    bar.update(len(ids))
                self._put_state(writer, {"format": FORMAT, "store": self.store.identity(), "token": token,
                                         "seq": seq or 0, "applied": logged})
            pointer = self.path / f".current-{name}"
            pointer.write_text(json.dumps({"dir": name}))
            os.replace(pointer, self.path / "current")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        for old in self.path.glob("idx-*"):  # processes still searching one keep its open files (Linux)
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        index.reload()
        self._index = (name, index)
        self._count = self._passages(index)

    # ---- files, writers, state -------------------------------------------------------------------------------
    def _folder(self) -> Path:
        """The cache folder, or a private temporary one when it cannot be written (a read-only store)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if os.access(self.path, os.W_OK):
                return self.path
        except OSError:
            pass
        private = Path(tempfile.mkdtemp(prefix="articleqa-keyword-"))
        atexit.register(shutil.rmtree, private, True)
        self.path = private / self.path.name
        self.path.mkdir()
        return self.path

    def _open(self):
        """The current index (reloaded to its last commit), or None when missing or unreadable."""
        import tantivy

        try:
            name = json.loads((self.path / "current").read_text())["dir"]
            if self._index is None or self._index[0] != name:
                self._index = (name, tantivy.Index.open(str(self.path / name)))
            self._index[1].reload()
            return self._index[1]
        except Exception as exc:  # noqa: BLE001 - missing, half-deleted or corrupt: rebuild instead
            log.info("keyword index %s not usable (%s)", self.path, exc)
            self._index = None
            return None

    def _schema_(self):
        if self._schema is None:
            self._schema = _schema()
        return self._schema

    @contextmanager
    def _writer(self, index) -> Iterator[object]:
        """A tantivy writer whose work is committed when the block ends, rolled back when it raises."""
        writer = index.writer(heap_size=_HEAP, num_threads=1)
        try:
            yield writer
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()  # also drops the writer, which frees tantivy's own writer lock

    def _add(self, writer, rows: list[_Row]) -> None:
        import tantivy

        for r in rows:
            writer.add_document(tantivy.Document(pid=r.pid, article=r.article_id, source=r.source.lower(),
                                                 date=r.date, kind="passage", body=r.body))

    def _put_state(self, writer, state: dict) -> None:
        import tantivy

        writer.delete_documents_by_term("kind", "state")
        writer.add_document(tantivy.Document(kind="state", state=json.dumps(state)))

    def _state(self, index) -> dict | None:
        import tantivy

        try:
            searcher = index.searcher()
            hits = searcher.search(tantivy.Query.term_query(self._schema_(), "kind", "state"), 1).hits
            return json.loads(searcher.doc(hits[0][1])["state"][0]) if hits else None
        except Exception:  # noqa: BLE001 - an index of another schema or a damaged one
            return None

    @staticmethod
    def _passages(index) -> int:
        return max(0, index.searcher().num_docs - 1)  # less the state document

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
        import tantivy

        self.refresh()
        with self._stem_lock:  # PyStemmer objects are not thread-safe and questions are answered in parallel
            if self._stemmer is None:
                self._stemmer = new_stemmer()
            tokens = self._tokenize([query], self._stemmer)
        words = tokens[0] if tokens else []
        current = self._index
        if not words or not self._count or current is None:
            return []
        schema, Q, must = self._schema_(), tantivy.Query, tantivy.Occur.Must
        clauses = [(must, Q.boolean_query([(tantivy.Occur.Should, Q.term_query(schema, "body", w)) for w in words]))]
        filters = []
        if source:
            filters.append(Q.term_query(schema, "source", source.lower()))
        if since or until:
            filters.append(Q.range_query(schema, "date", tantivy.FieldType.Integer, since or None,
                                         until if until else None))
        if until:
            filters.append(Q.range_query(schema, "date", tantivy.FieldType.Integer, 1, None))
        clauses += [(must, Q.const_score_query(f, 0.0)) for f in filters]  # filters must not change the ranking
        searcher = current[1].searcher()
        hits = searcher.search(Q.boolean_query(clauses), k).hits
        return [KeywordHit(searcher.doc(addr)["pid"][0], float(score)) for score, addr in hits if score > 0]

