"""The Chroma store: passages, article records, and the write protocol that survives being killed at any moment.

Three collections per name N:
- `N`: one record per passage (plain text as document, embedding of title+date+passage, offsets in metadata).
- `N__articles`: one record per article (cleaned text as document, metadata, content hash, MinHash signature).
- `N__meta`: the `generation` record (a token and the last change sequence number, changed on every write) and the
  change log: one `change-…` record per write, with its sequence number and the article ids whose passages it changed,
  so caches (the keyword index) catch up by re-reading those articles only.

Write protocol (`Store.write`, the one write path of ingest and migrate): mark the record pending with the new hash,
write the new passages, commit the record to the new hash (still pending), delete passages of other hashes, clear
pending.
The change-log entry is written after the passages reach their final state and before the pending mark is cleared
(a delete: before the record goes), so a kill either leaves the entry written or the article pending, and
`recover()` then logs it.
`Store.recover()` finishes or rolls back any article left pending by a killed run, so re-running gives exactly the
state of a clean run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from articleqa.embed import ChromaEmbeddingFunction, Embedder
from articleqa.errors import EmbeddingError, StoreError  # noqa: F401 - StoreError re-exported: callers import it here
from articleqa.models import META_FIELDS, Article, ArticleMeta, Passage
from articleqa.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Collection calls that go through the retry/error wrapper. Every one is idempotent (upsert, delete by id or
# filter, update, reads), so repeating a call whose response was lost cannot duplicate anything.
EMBEDDING_RECORD = "embedding"  # the `N__meta` record naming the model (and dimension) of the collection's vectors
# Change-log numbers a follower re-reads behind the last one it applied: two writers on one server may read the same
# last number and log under the same one (see `Store.log_changes`), so a follower skips the entries it applied instead.
CHANGE_OVERLAP = 64
_GUARDED = frozenset({"add", "upsert", "update", "delete", "get", "query", "count", "peek"})


def disk_problem(folder: Path, min_free_mb: float = 1.0) -> str:
    """ "read-only" or "full" (less than `min_free_mb` MiB free) for the filesystem holding `folder`, else ""."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return ""
    if st.f_flag & os.ST_RDONLY:
        return "read-only"
    return "full" if st.f_bavail * st.f_frsize < min_free_mb * 1024 * 1024 else ""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as a single line (Chroma and httpx messages may span several), at most `limit` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_transient(exc: BaseException) -> bool:
    """Whether a Chroma server call failed because the server could not be reached (worth retrying)."""
    import httpx

    if isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    # chromadb wraps a failed connect in a plain ValueError/Exception whose text is all we have.
    text = str(exc).lower()
    return "could not connect to a chroma server" in text or "connection refused" in text


def failure(settings: Settings, exc: BaseException, what: str) -> StoreError:
    """A one-line StoreError that names the store and the fix for the common causes."""
    text = one_line(exc)
    low = text.lower()
    if settings.store.chroma_url and is_transient(exc):
        return StoreError(
            f"Chroma server {settings.store.chroma_url} is not reachable ({what}: {text}); "
            "start it (chroma run --path DIR --host 127.0.0.1 --port 8000) or fix ARTICLEQA_CHROMA_URL",
            fatal=True,
        )
    where = settings.store.chroma_url or str(settings.store.path)
    disk = "" if settings.store.chroma_url else disk_problem(Path(settings.store.path))
    if disk == "read-only" or "readonly" in low or "read-only" in low:
        return StoreError(
            f"the store {where} is read-only ({what}: {text}); make it writable or use another --store", fatal=True
        )
    if disk == "full" or "disk is full" in low or "no space left" in low:
        return StoreError(
            f"the disk holding {where} is full ({what}: {text}); free space and run ingest again", fatal=True
        )
    return StoreError(f"{what} failed on {where}: {text}")


def with_retry(settings: Settings, what: str, call: Callable[[], T]) -> T:
    """Run one Chroma call; against a server, retry unreachable-server errors with exponential backoff.

    Args:
        settings: supplies chroma_url, chroma_retries and chroma_retry_delay.
        what: the operation, for the error message.
        call: the call to run.
    Returns:
        Whatever `call` returns.
    Raises:
        StoreError: one line naming the store and the fix, after the last attempt.
    """
    attempts = 1 + (max(0, settings.store.retries) if settings.store.chroma_url else 0)
    delay = settings.store.retry_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except StoreError:
            raise
        except Exception as exc:
            if attempt < attempts and is_transient(exc):
                # A restarting server is back within seconds: wait, doubling, but never forever.
                log.info("Chroma %s: %s; retry %d/%d in %.2f s", what, one_line(exc), attempt, attempts - 1, delay)
                time.sleep(delay)
                delay *= 2
                continue
            raise failure(settings, exc, what) from exc
    raise AssertionError("unreachable")


class GuardedCollection:
    """A Chroma collection whose calls retry while a server is unreachable and fail as one-line StoreErrors."""

    def __init__(self, collection: Any, settings: Settings):
        self._collection = collection
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._collection, name)
        if name not in _GUARDED or not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            return with_retry(self._settings, f"{name} on {self._collection.name}", lambda: attr(*args, **kwargs))

        return guarded


@dataclass
class ArticleRecord(ArticleMeta):
    """What the store knows about one article."""

    id: str
    dateline: str = ""
    origin: str = ""
    hash: str = ""  # committed content hash ("" while a first write is in flight)
    pending: str = ""  # non-empty while a write is in flight
    text_hash: str = ""
    minhash: str = ""
    passages: int = 0
    aliases: list[str] = field(default_factory=list)  # ids/origins of duplicates that were not stored
    ingested_at: str = ""

    @classmethod
    def from_chroma(cls, rid: str, meta: dict[str, Any]) -> ArticleRecord:
        """The record stored under `rid` with Chroma metadata `meta`."""
        known = {k: meta[k] for k in cls.__dataclass_fields__ if k in meta and k not in ("id", "aliases")}
        return cls(id=rid, aliases=json.loads(meta.get("aliases") or "[]"), **known)

    def to_chroma(self) -> dict[str, Any]:
        """Chroma metadata (flat scalars): every field, aliases as JSON, and the date as a filterable day number."""
        meta: dict[str, Any] = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("id", "aliases")}
        meta["aliases"] = json.dumps(self.aliases)
        meta["kind"] = "article"
        meta["date_ts"] = date_ordinal(self.date)
        return meta

    def with_pending(self, pending: str, **changes: Any) -> ArticleRecord:
        """A copy with `pending` (and any other field) replaced."""
        return ArticleRecord(**{**self.__dict__, "pending": pending, **changes})


@dataclass
class ArticleWrite:
    """One article to store: what `Store.replace_articles` needs."""

    article: Article
    passages: list[Passage]
    embeddings: np.ndarray  # one row per passage
    digest: str  # content-hash prefix used in passage ids and `content_hash` metadata
    text_hash: str  # hash of the normalised text, for exact-duplicate detection
    minhash: str  # encoded MinHash signature, for near-duplicate detection
    previous: ArticleRecord | None  # the article's current record, if any


@dataclass
class Change:
    """One change-log entry: sequence number and the articles whose passages the write changed."""

    id: str
    seq: int
    articles: list[str]


@dataclass
class FollowUp:
    """What a cache that follows the change log must do to apply the entries it has not applied yet."""

    articles: list[str]  # the articles to re-read from the store
    seq: int  # the last sequence number applied once they are re-read
    applied: list[str]  # ids of the entries applied within `CHANGE_OVERLAP` of `seq` (skipped next time)


def change_seq(change_id: str) -> int:
    """The sequence number in a change-log entry id (`change-<seq>-<suffix>`); 0 when it has none."""
    try:
        return int(change_id.split("-")[1])
    except (IndexError, ValueError):
        return 0


@dataclass
class PassageRows:
    """Passages in Chroma's own shape (ids, documents, metadatas, embeddings), ready to upsert."""

    ids: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)
    embeddings: list[Any] = field(default_factory=list)  # one vector (list or array row) per passage

    def extend(self, other: PassageRows) -> None:
        self.ids += other.ids
        self.documents += other.documents
        self.metadatas += other.metadatas
        self.embeddings += list(other.embeddings)


@dataclass
class StagedArticle:
    """One article as `Store.write` takes it: the committed record to reach, its text, vector and passages."""

    record: ArticleRecord  # `hash` is the version being written; `pending` is ignored
    text: str
    vector: Any  # the article's embedding (list or array)
    rows: PassageRows
    previous: ArticleRecord | None  # what the store holds under this id now, if anything


def date_ordinal(iso: str) -> int:
    """Date as a day number (0 when unknown) so Chroma can filter ranges with $gte/$lte."""
    try:
        return dt.date.fromisoformat(iso[:10]).toordinal()
    except ValueError:
        return 0


def open_client(settings: Settings):
    """A Chroma client: HttpClient when a server URL is set, else the embedded PersistentClient."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.store.chroma_url:
        from urllib.parse import urlparse

        u = urlparse(settings.store.chroma_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise StoreError(
                f"Chroma server URL {settings.store.chroma_url!r} is not an http(s) URL like http://127.0.0.1:8000"
            )

        def connect():
            return chromadb.HttpClient(
                host=u.hostname or "127.0.0.1",
                port=u.port or (443 if u.scheme == "https" else 8000),
                ssl=u.scheme == "https",
                settings=chroma_settings,
            )

        # chromadb raises several types for "not reachable"; with_retry turns them into one clear line.
        return with_retry(settings, "connect", connect)
    path = Path(settings.store.path)
    if read_only_store(path):
        # Chroma writes its SQLite file even to read; answer from a private copy instead (see readable_copy).
        from articleqa.readonly import CopyRefused, readable_copy

        try:
            path = readable_copy(path, settings.limits.readonly_copy_mb)
        except CopyRefused as exc:
            raise StoreError(str(exc), fatal=True) from exc
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        raise StoreError(f"cannot open the store at {settings.store.path}: {one_line(exc)}") from exc


def read_only_store(folder: Path) -> bool:
    """Whether an existing embedded store folder cannot be written by this process (read-only mount or
    permissions)."""
    db = folder / "chroma.sqlite3"
    if not db.exists():
        return False
    return disk_problem(folder) == "read-only" or not (os.access(folder, os.W_OK) and os.access(db, os.W_OK))


class Store:
    """Reads and writes articles and passages in Chroma. Cheap to create; the embedding model loads only when needed."""

    def __init__(self, settings: Settings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder
        self._open()

    def reopen(self) -> None:
        """Open the embedded store afresh, to see what another process wrote since this one opened it.

        Chroma's embedded client keeps the vector index it loaded in memory; a long-lived reader (the answer
        daemon) calls this, under a read lease, when the generation token changed. Server mode needs none.
        """
        if self.settings.store.chroma_url:
            return
        self.client.clear_system_cache()  # the cached client of this folder holds the stale index
        self._open()

    def _open(self) -> None:
        settings = self.settings
        self.client = open_client(settings)
        ef = ChromaEmbeddingFunction(self.embedder)
        space = {"hnsw:space": "cosine"}

        def collection(name: str, metadata: dict[str, Any] | None) -> GuardedCollection:
            got = with_retry(
                settings,
                f"open collection {name!r}",
                lambda: self.client.get_or_create_collection(name, embedding_function=ef, metadata=metadata),
            )
            return GuardedCollection(got, settings)

        self.passages = collection(settings.store.collection, space)
        self.articles = collection(f"{settings.store.collection}__articles", space)
        self.meta = collection(f"{settings.store.collection}__meta", None)
        self._model_checked: tuple[str, int] | None = None  # (model, dimension) already matched to the collection

    # ---- generation and change log (cache invalidation) ---------------------------------------------------
    def generation(self) -> str:
        """A token that changes whenever passages change."""
        return self.change_state()[0]

    def change_state(self) -> tuple[str, int | None]:
        """The generation token and the last change-log sequence number (None: written by a version without one)."""
        got = self.meta.get(ids=["generation"], include=["metadatas"])
        metas = got.get("metadatas") or []
        meta = (metas[0] if metas else None) or {}
        seq = meta.get("seq")
        return str(meta.get("token", "")), (int(seq) if seq is not None else None)

    def identity(self) -> str:
        """Which store this is: the passage collection's id (a recreated or other store has another)."""
        return str(self.passages.id)

    def log_changes(self, article_ids: list[str]) -> int:
        """Append one change-log entry naming `article_ids` and move the generation on; returns its sequence number.

        The entry and the generation record go in one upsert. Sequence numbers are exact with one writer (embedded
        mode, where the store lock allows one); two writers on a server may read the same last number, so entry ids
        carry a random suffix (neither entry is lost) and readers re-read a window of recent numbers
        (`changes_since`).
        """
        _, last = self.change_state()
        seq = (last or 0) + 1
        token = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        entry = {"kind": "change", "seq": seq, "articles": json.dumps(sorted(set(article_ids)))}
        self.meta.upsert(
            ids=[f"change-{seq:012d}-{uuid.uuid4().hex[:8]}", "generation"],
            embeddings=[[1.0], [1.0]],
            metadatas=[entry, {"token": token, "seq": seq}],
            documents=["", ""],
        )
        return seq

    def set_generation(self, token: str) -> None:
        """Set the generation token (migrate carries the source's), keeping the change-log sequence."""
        _, seq = self.change_state()
        self.meta.upsert(ids=["generation"], embeddings=[[1.0]], metadatas=[{"token": token, "seq": seq or 0}],
                         documents=[""])

    def bump_generation(self) -> None:
        """Move the generation on with an empty change-log entry (callers that changed nothing the log names)."""
        self.log_changes([])

    def changes_since(self, seq: int) -> list[Change]:
        """Change-log entries with a sequence number above `seq`, in sequence order."""
        out: list[Change] = []
        offset, page = 0, 1000
        where = {"$and": [{"kind": "change"}, {"seq": {"$gt": seq}}]}
        while True:
            got = self.meta.get(where=where, include=["metadatas"], limit=page, offset=offset)
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                m = meta or {}
                out.append(Change(cid, int(m.get("seq", 0)), json.loads(m.get("articles") or "[]")))
            if len(got["ids"]) < page:
                return sorted(out, key=lambda c: (c.seq, c.id))
            offset += page

    def follow_up(self, seq: int, applied: list[str]) -> FollowUp:
        """The articles a cache that applied the log up to `seq` (and the entries `applied`) must re-read.

        Entries are re-read from `CHANGE_OVERLAP` numbers back and those already applied skipped: two writers on a
        server may log under the same number, and neither entry may be missed. Applying an entry means re-reading its
        articles, so applying one twice is harmless.
        """
        done = set(applied)
        fresh = [c for c in self.changes_since(seq - CHANGE_OVERLAP) if c.id not in done]
        top = max([seq, *(c.seq for c in fresh)])
        recent = sorted(cid for cid in done | {c.id for c in fresh} if change_seq(cid) > top - CHANGE_OVERLAP)
        return FollowUp(sorted({a for c in fresh for a in c.articles}), top, recent)

    # ---- the embedding model the collection was written with ---------------------------------------------------
    def embedding_model(self) -> tuple[str, int] | None:
        """(model name, dimension) recorded at the collection's first write, or None before it."""
        got = self.meta.get(ids=[EMBEDDING_RECORD], include=["metadatas"])
        metas = got.get("metadatas") or []
        if not metas or not metas[0]:
            return None
        return str(metas[0].get("model", "")), int(metas[0].get("dimension", 0))

    def check_embedding(self, dimension: int = 0, record: bool = False) -> None:
        """Refuse vectors of another model than the collection's (one line naming both and the fix).

        Args:
            dimension: length of the vectors about to be written or queried (0: check the name only).
            record: a write is coming: record this model when the collection has none yet.
        Raises:
            EmbeddingError: the collection was written with another model or dimension.
        """
        name = self.embedder.model_name
        if self._model_checked == (name, dimension):
            return
        found = self.embedding_model()
        if found is None and record and dimension:
            # A store written before models were recorded: its vectors' length is all there is to check.
            peek = self.passages.get(limit=1, include=["embeddings"])
            old = len(peek["embeddings"][0]) if peek["ids"] else dimension
            if old != dimension:
                self._refuse(("a model not recorded", old), name, dimension)
            self.meta.upsert(ids=[EMBEDDING_RECORD], embeddings=[[1.0]], documents=[""],
                             metadatas=[{"model": name, "dimension": dimension}])
            found = (name, dimension)
        if found is None:
            return
        if found[0] != name or (dimension and found[1] != dimension):
            self._refuse(found, name, dimension)
        if dimension:
            self._model_checked = (name, dimension)

    def _refuse(self, found: tuple[str, int], name: str, dimension: int) -> None:
        url = self.settings.embedding.url
        where = f" from {url}" if url else " in-process"
        size = f"{dimension}" if dimension else "?"
        raise EmbeddingError(
            f"collection {self.settings.store.collection!r} holds vectors of {found[0]} ({found[1]} dimensions) but "
            f"this run embeds with {name} ({size} dimensions{where}); one collection takes one model: use "
            f"{found[0]} (ARTICLEQA_EMBEDDING_URL, ARTICLEQA_EMBEDDING_MODEL_NAME, ARTICLEQA_EMBEDDING_MODEL) or "
            "another --collection"
        )

    # ---- article records -----------------------------------------------------------------------------------
    def records(self) -> dict[str, ArticleRecord]:
        """Every article record, committed or pending (reads the whole store: caches use `records_by_id`)."""
        return {r.id: r for page in self.iter_records() for r in page}

    def iter_records(self, page: int = 1000) -> Iterator[list[ArticleRecord]]:
        """Every article record, committed or pending, a page at a time (for rebuilding derived caches)."""
        offset = 0
        while True:
            got = self.articles.get(include=["metadatas"], limit=page, offset=offset)
            yield [ArticleRecord.from_chroma(rid, meta or {})
                   for rid, meta in zip(got["ids"], got["metadatas"] or [], strict=False)]
            if len(got["ids"]) < page:
                return
            offset += page

    def records_by_id(self, article_ids: list[str], page: int = 500) -> dict[str, ArticleRecord]:
        """The records of these articles that exist, committed or pending, read by id in pages."""
        out: dict[str, ArticleRecord] = {}
        for i in range(0, len(article_ids), page):
            got = self.articles.get(ids=article_ids[i : i + page], include=["metadatas"])
            for rid, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[rid] = ArticleRecord.from_chroma(rid, meta or {})
        return out

    def record(self, article_id: str) -> ArticleRecord | None:
        got = self.articles.get(ids=[article_id], include=["metadatas"])
        if not got["ids"]:
            return None
        return ArticleRecord.from_chroma(article_id, got["metadatas"][0] or {})

    def article_text(self, article_id: str) -> str:
        got = self.articles.get(ids=[article_id], include=["documents"])
        return (got.get("documents") or [""])[0] or ""

    # ---- writes --------------------------------------------------------------------------------------------
    def replace_article(
        self,
        article: Article,
        passages: list[Passage],
        embeddings: np.ndarray,
        digest: str,
        text_hash: str,
        minhash: str,
        previous: ArticleRecord | None,
    ) -> ArticleRecord:
        """Store one article with its passages, replacing any earlier version, crash-safely (see `replace_articles`)."""
        return self.replace_articles(
            [ArticleWrite(article, passages, embeddings, digest, text_hash, minhash, previous)]
        )[0]

    def replace_articles(self, writes: list[ArticleWrite]) -> list[ArticleRecord]:
        """Store several articles with their passages, replacing earlier versions, crash-safely (see `write`).

        Args:
            writes: the articles to store; at most one per article id.
        Returns:
            The committed records, in the order given.
        """
        if not writes:
            return []
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        staged = []
        for w in writes:
            mean = w.embeddings.mean(axis=0)
            a = w.article
            record = ArticleRecord(
                id=a.id, dateline=a.dateline, origin=a.origin, hash=w.digest, text_hash=w.text_hash,
                minhash=w.minhash, passages=len(w.passages), aliases=w.previous.aliases if w.previous else [],
                ingested_at=now, **a.meta_fields(),
            )
            rows = PassageRows(
                ids=[p.id for p in w.passages],
                documents=[p.text for p in w.passages],
                metadatas=[passage_to_chroma(p, w.digest) for p in w.passages],
                embeddings=list(w.embeddings),
            )
            staged.append(StagedArticle(record, a.text, mean / (np.linalg.norm(mean) or 1.0), rows, w.previous))
        return self.write(staged)

    def write(self, staged: list[StagedArticle]) -> list[ArticleRecord]:
        """The one write path: store articles with their passages, replacing earlier versions, crash-safely.

        Every step is one batched Chroma call for all the articles (an ingest flush writes hundreds of articles, and
        per-article calls cost more than the writes themselves). Each record moves through the same states, so a
        kill between any two calls is rolled back or forward by `recover()`:
        1. pending markers (a committed earlier version keeps its text, metadata and vector until step 3),
        2. the new passages (their ids carry the new hash, so old ones stay readable meanwhile),
        3. commit the records to the new hashes, 4. drop replaced versions' passages, 5. clear pending.

        Returns:
            The committed records, in the order given.
        """
        if not staged:
            return []
        self._check_space()
        self.check_embedding(len(staged[0].vector), record=True)
        recs = [st.record.with_pending(st.record.hash) for st in staged]
        texts = [st.text for st in staged]
        vecs = [np.asarray(st.vector, dtype=np.float32) for st in staged]
        replaced = [i for i, st in enumerate(staged) if st.previous is not None and st.previous.hash]
        marker_recs = [r.with_pending(r.hash, hash="") for r in recs]
        marker_texts, marker_vecs = list(texts), list(vecs)
        if replaced:
            got = self.articles.get(ids=[staged[i].record.id for i in replaced], include=["documents", "embeddings"])
            old = {
                rid: (doc, emb) for rid, doc, emb in zip(got["ids"], got["documents"], got["embeddings"], strict=False)
            }
            for i in replaced:
                prev = staged[i].previous
                marker_recs[i] = prev.with_pending(recs[i].hash)
                if prev.id in old:
                    marker_texts[i] = old[prev.id][0] or ""
                    marker_vecs[i] = np.asarray(old[prev.id][1], dtype=np.float32)
        self._put_records(marker_recs, marker_texts, marker_vecs)
        rows = PassageRows()
        for st in staged:
            rows.extend(st.rows)
        matrix = np.asarray(rows.embeddings, dtype=np.float32)
        for i in range(0, len(rows.ids), 1000):
            self.passages.upsert(
                ids=rows.ids[i : i + 1000],
                documents=rows.documents[i : i + 1000],
                metadatas=rows.metadatas[i : i + 1000],
                embeddings=matrix[i : i + 1000].tolist(),
            )
        self._put_records(recs, texts, vecs)
        for i in replaced:
            self._delete_stale(staged[i].record.id, keep=recs[i].hash)
        self.log_changes([r.id for r in recs])  # before clearing pending: a kill here leaves recover() to log it
        done = [r.with_pending("") for r in recs]
        self._put_records(done, texts, vecs)
        return done

    def _put_records(self, recs: list[ArticleRecord], texts: list[str], vecs: list[np.ndarray]) -> None:
        self.articles.upsert(
            ids=[r.id for r in recs],
            metadatas=[r.to_chroma() for r in recs],
            documents=texts,
            embeddings=[v.tolist() for v in vecs],
        )

    def _check_space(self) -> None:
        # Embedded Chroma can hang (not fail) when the disk fills mid-write, so refuse before starting an article.
        if self.settings.store.chroma_url or self.settings.store.min_free_mb <= 0:
            return
        if disk_problem(Path(self.settings.store.path), self.settings.store.min_free_mb) == "full":
            free = os.statvfs(self.settings.store.path)
            mib = free.f_bavail * free.f_frsize / 2**20
            raise StoreError(
                f"the disk holding {self.settings.store.path} is full ({mib:.1f} MiB free, min_free_mb "
                f"{self.settings.store.min_free_mb:g}); free space and run ingest again",
                fatal=True,
            )

    def add_alias(self, article_id: str, alias: str) -> None:
        """Remember that `alias` (a duplicate's id or origin) was folded into `article_id`."""
        rec = self.record(article_id)
        if rec is None or alias in rec.aliases:
            return
        rec.aliases.append(alias)
        self.articles.update(ids=[article_id], metadatas=[rec.to_chroma()])

    def delete_article(self, article_id: str) -> bool:
        """Remove an article and all its passages. Returns False when it did not exist."""
        rec = self.record(article_id)
        if rec is None:
            return False
        # Mark first so a kill mid-delete is finished by recover() rather than leaving orphans.
        self.articles.update(ids=[article_id], metadatas=[{**rec.to_chroma(), "hash": "", "pending": "delete"}])
        self.passages.delete(where={"article_id": article_id})
        self.log_changes([article_id])  # while the record still says pending: a kill here is logged by recover()
        self.articles.delete(ids=[article_id])
        return True

    def delete_articles(self, ids: list[str]) -> dict[str, bool]:
        """Delete articles by id (the caller holds the store lock); returns which existed.

        The keyword index and other processes follow through the change log (one entry per deleted article).
        """
        from articleqa.rwlock import writing

        with writing(self.settings):  # readers (ask, articles list) wait for the delete, never see half of it
            return {i: self.delete_article(i) for i in ids}

    def _delete_stale(self, article_id: str, keep: str) -> None:
        if keep:
            self.passages.delete(where={"$and": [{"article_id": article_id}, {"content_hash": {"$ne": keep}}]})
        else:
            self.passages.delete(where={"article_id": article_id})

    def recover(self, ids: list[str] | None = None) -> list[str]:
        """Finish or roll back writes a killed run left pending. Returns the article ids it repaired.

        Args:
            ids: only these articles (a parallel ingest worker repairs its own, never another worker's in-flight
                writes); None: every pending article.
        """
        if ids is not None and not ids:
            return []
        got = self.articles.get(ids=ids, where={"pending": {"$ne": ""}}, include=["metadatas"])
        recs = [ArticleRecord.from_chroma(rid, meta or {}) for rid, meta in
                zip(got["ids"], got["metadatas"] or [], strict=False)]
        for rec in recs:
            self._delete_stale(rec.id, keep=rec.hash)
        if recs:
            self.log_changes([rec.id for rec in recs])  # before clearing pending, as in `write`
        for rec in recs:
            if rec.hash:
                self.articles.update(ids=[rec.id], metadatas=[{**rec.to_chroma(), "pending": ""}])
            else:
                self.articles.delete(ids=[rec.id])
        return [rec.id for rec in recs]

    # ---- reads ---------------------------------------------------------------------------------------------
    def count_passages(self) -> int:
        return self.passages.count()

    def iter_passages(self, page: int = 2000):
        """Yield (ids, documents, metadatas) pages over all passages, for rebuilding derived indexes."""
        offset = 0
        while True:
            got = self.passages.get(include=["documents", "metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got["documents"], got["metadatas"]
            if len(got["ids"]) < page:
                return
            offset += page

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Passage]:
        """Nearest passages to `vector`, best first; `score` is the cosine similarity."""
        self.check_embedding(len(vector))  # once per Store: vectors of another model would match nonsense
        # No count() first: Chroma 1.5 returns what it has when k exceeds it, and against a server every call
        # is a round trip on the answer's critical path.
        got = self.passages.query(
            query_embeddings=[vector.tolist()],
            n_results=k,
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        return [
            passage_from(pid, doc, meta, 1.0 - dist)
            for pid, doc, meta, dist in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=False
            )
        ]

    def get_passages(self, ids: list[str]) -> list[Passage]:
        """Passages by id, in the order asked (missing ids are skipped)."""
        if not ids:
            return []
        got = self.passages.get(ids=ids, include=["documents", "metadatas"])
        by_id = {
            pid: passage_from(pid, doc, meta)
            for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False)
        }
        return [by_id[i] for i in ids if i in by_id]


def passage_to_chroma(p: Passage, digest: str) -> dict[str, Any]:
    """Chroma metadata of a passage (flat scalars) written with content hash `digest`."""
    return {"article_id": p.article_id, "position": p.position, "start": p.start, "end": p.end,
            **p.meta_fields(), "content_hash": digest, "date_ts": date_ordinal(p.date)}


def passage_from(pid: str, doc: str | None, meta: dict[str, Any] | None, score: float = 0.0) -> Passage:
    """Rebuild a Passage from a Chroma record."""
    m = meta or {}
    return Passage(
        id=pid,
        article_id=str(m.get("article_id", "")),
        text=doc or "",
        position=int(m.get("position", 0)),
        start=int(m.get("start", 0)),
        end=int(m.get("end", 0)),
        score=float(score),
        **{k: str(m.get(k, "")) for k in META_FIELDS},
    )
