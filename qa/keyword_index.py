"""BM25 keyword index over the stored passages: a cache derived from Chroma, rebuilt only when the store changes.

Chroma is the only source of truth. Every write bumps the store's generation token; the index remembers the
token it was built from and rebuilds (from Chroma) when they differ. So any number of processes, embedded or
against a Chroma server, stay in step without talking to each other. Built indexes are saved under the cache
folder, one sub-folder per generation, and a `current` pointer file is swapped atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from articleqa.settings import Settings
from articleqa.store import Store, date_ordinal
from articleqa.text import new_stemmer


@dataclass
class KeywordHit:
    passage_id: str
    score: float


class KeywordIndex:
    """BM25 (bm25s, English stopwords, Snowball stemming) over passage title + text."""

    def __init__(self, settings: Settings, store: Store):
        self.store = store
        key = settings.store.chroma_url or str(Path(settings.store.path).resolve())
        tag = hashlib.sha1(f"{key}|{settings.store.collection}".encode()).hexdigest()[:10]
        self.folder = settings.resolved_cache_dir() / f"bm25-{settings.store.collection}-{tag}"
        self._lock = threading.Lock()
        self._writers = 0  # in-process writes in progress (see `deferred`)
        self._writers_lock = threading.Lock()
        self._generation: str | None = None
        self._bm25 = None
        self._ids: list[str] = []
        self._sources: np.ndarray = np.array([], dtype=object)
        self._dates: np.ndarray = np.array([], dtype=np.int64)
        self._stemmer = None
        self._stem_lock = threading.Lock()
        self._snapshot: tuple = (None, [], self._sources, self._dates)

    # ---- keeping in step -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make sure the index matches the store's current generation (load from disk or rebuild)."""
        gen = self.store.generation()
        if gen == self._generation and self._bm25 is not None:
            return
        if self._writers and self._generation is not None:
            # An in-process write (see `deferred`) has not returned yet: keep searching the index as it was. The
            # writer brings it up to date once, before it returns, rather than the questions rebuilding it after
            # each of its flushes while every other question waits for the rebuild.
            return
        self._sync(gen)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Wrap an in-process write (ingest, delete) so questions never wait for index rebuilds during it.

        While the write runs, searches use the index of before it (they may or may not see its new passages, as
        with the dense search); on leaving, the index is rebuilt for the store's generation, so questions asked
        after the write returned always see it.
        """
        with self._writers_lock:
            self._writers += 1
        try:
            yield
        finally:
            try:
                self._sync(self.store.generation())
            except Exception:  # noqa: BLE001 - never mask the write's outcome; the next search rebuilds instead
                pass
            finally:
                with self._writers_lock:
                    self._writers -= 1

    def _sync(self, gen: str) -> None:
        if gen == self._generation and self._bm25 is not None:
            return
        with self._lock:
            if gen == self._generation and self._bm25 is not None:
                return
            if not self._load(gen):
                self._build(gen)

    def _load(self, gen: str) -> bool:
        pointer = self.folder / "current"
        try:
            current = json.loads(pointer.read_text())
        except (OSError, ValueError):
            return False
        if current.get("generation") != gen:
            return False
        path = self.folder / current["dir"]
        try:
            import bm25s

            bm25 = bm25s.BM25.load(str(path / "bm25"), show_progress=False)
            data = json.loads((path / "passages.json").read_text())
        except Exception:  # a half-deleted or foreign folder: rebuild instead
            return False
        self._install(gen, bm25, data["ids"], data["sources"], data["dates"])
        return True

    def _build(self, gen: str) -> None:
        import bm25s

        ids: list[str] = []
        texts: list[str] = []
        sources: list[str] = []
        dates: list[int] = []
        for page_ids, docs, metas in self.store.iter_passages():
            for pid, doc, meta in zip(page_ids, docs, metas, strict=False):
                m = meta or {}
                ids.append(pid)
                texts.append(f"{m.get('title', '')}\n{doc or ''}")
                sources.append(str(m.get("source", "")))
                dates.append(int(m.get("date_ts") or date_ordinal(str(m.get("date", "")))))
        bm25 = None
        if ids:
            # its own stemmer: searches keep theirs meanwhile (PyStemmer objects are not thread-safe)
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=new_stemmer(), show_progress=False)
            bm25 = bm25s.BM25()
            bm25.index(tokens, show_progress=False)
        self._install(gen, bm25, ids, sources, dates)
        if bm25 is not None:
            self._save(gen, bm25, ids, sources, dates)

    def _save(self, gen: str, bm25, ids: list[str], sources: list[str], dates: list[int]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix="gen-", dir=self.folder))
            bm25.save(str(tmp / "bm25"), show_progress=False)
            (tmp / "passages.json").write_text(json.dumps({"ids": ids, "sources": sources, "dates": dates}))
            pointer_tmp = tmp.with_suffix(".pointer")
            pointer_tmp.write_text(json.dumps({"generation": gen, "dir": tmp.name}))
            os.replace(pointer_tmp, self.folder / "current")
            for old in self.folder.glob("gen-*"):
                if old.is_dir() and old.name != tmp.name:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # the cache is an optimisation: a read-only disk must not break answering

    def _install(self, gen: str, bm25, ids: list[str], sources: list[str], dates: list[int]) -> None:
        bm25 = bm25 if ids else None
        ids = list(ids)
        src = np.array(sources, dtype=object)
        dts = np.array(dates, dtype=np.int64)
        # One assignment, so a search running meanwhile (on the previous index) never mixes two indexes.
        self._snapshot = (bm25, ids, src, dts)
        self._bm25, self._ids, self._sources, self._dates = bm25, ids, src, dts
        self._generation = gen

    def _stem(self):
        if self._stemmer is None:
            self._stemmer = new_stemmer()
        return self._stemmer

    # ---- search --------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def search(
        self, query: str, k: int, source: str | None = None, since: int | None = None, until: int | None = None
    ) -> list[KeywordHit]:
        """Top-k passages by BM25 for `query`, optionally restricted by source and date-ordinal range."""
        import bm25s

        self.refresh()
        bm25, ids, sources, dates = self._snapshot
        if bm25 is None or not ids:
            return []
        with self._stem_lock:  # PyStemmer objects are not thread-safe and questions are answered in parallel
            tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stem(), show_progress=False,
                                    return_ids=False)
        if not tokens or not tokens[0]:
            return []
        mask = None
        if source or since or until:
            keep = np.ones(len(ids), dtype=bool)
            if source:
                keep &= np.array([s.lower() == source.lower() for s in sources], dtype=bool)
            if since:
                keep &= dates >= since
            if until:
                keep &= (dates <= until) & (dates > 0)
            if not keep.any():
                return []
            mask = keep.astype(np.float32)
        # bm25s wants vocabulary-filtered tokens; unknown words simply contribute nothing.
        vocab = bm25.vocab_dict
        known = [t for t in tokens[0] if t in vocab]
        if not known:
            return []
        docs, scores = bm25.retrieve([known], k=min(k, len(ids)), show_progress=False, weight_mask=mask, n_threads=1)
        return [KeywordHit(ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=False) if s > 0]
