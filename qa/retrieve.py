"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, re-scored, capped per article."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np

from articleqa.embed import Embedder
from articleqa.models import Passage
from articleqa.settings import Settings
from articleqa.store import Store
from articleqa.text import content_words
from qa.cite import encode_cached
from qa.keyword_index import KeywordIndex


@dataclass
class Filters:
    """Restrictions on which passages may be retrieved."""

    source: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if self.source:
            clauses.append({"source": self.source})
        if self.since:
            clauses.append({"date_ts": {"$gte": self.since.toordinal()}})
        if self.until:
            clauses.append({"date_ts": {"$lte": self.until.toordinal()}})
            clauses.append({"date_ts": {"$gt": 0}})  # undated articles cannot satisfy an upper bound
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class Retrieval:
    """The ranked passages and what it took to find them."""

    passages: list[Passage]
    candidates: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class HybridRetriever:
    """Finds the passages most likely to answer a query.

    Dense and keyword candidates are fused with reciprocal-rank fusion, then re-scored from features that need no
    extra model: cosine similarity of the query with the passage, query-term coverage (title included) and fusion
    rank. At most `max_per_article` passages per article survive, so one long story cannot crowd out the rest.
    """

    def __init__(self, settings: Settings, store: Store, embedder: Embedder):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.keywords = KeywordIndex(settings, store)

    def run(self, query: str, filters: Filters | None = None, k: int | None = None) -> Retrieval:
        """Retrieve passages for `query`.

        Args:
            query: the (rewritten, self-contained) question.
            filters: source and publish-date restrictions.
            k: passages to return (default settings.retrieval.top_k).
        Returns:
            A Retrieval with passages best first; `Passage.score` is the final relevance score (0-1-ish).
        """
        filters = filters or Filters()
        k = k or self.settings.retrieval.top_k
        n = self.settings.retrieval.candidates
        timings: dict[str, float] = {}

        t = time.perf_counter()
        # Through the sentence-vector cache: a repeated question costs no model call, and the answerer (which
        # scores sentences against the same question) finds its vector there.
        qvec = encode_cached(self.embedder, [query])[0]
        timings["embed_query"] = time.perf_counter() - t

        t = time.perf_counter()
        dense = self.store.query(qvec, n, filters.chroma_where())
        timings["dense"] = time.perf_counter() - t

        t = time.perf_counter()
        hits = self.keywords.search(
            query,
            n,
            source=filters.source,
            since=filters.since.toordinal() if filters.since else None,
            until=filters.until.toordinal() if filters.until else None,
        )
        timings["keyword"] = time.perf_counter() - t

        t = time.perf_counter()
        fused = self._fuse(query, qvec, dense, hits)
        ranked = _cap_per_article(fused, self.settings.retrieval.max_per_article)[:k]
        timings["rerank"] = time.perf_counter() - t
        return Retrieval(ranked, candidates=len(fused), timings=timings)

    def _fuse(self, query: str, qvec: np.ndarray, dense: list[Passage], hits) -> list[Passage]:
        w = self.settings.retrieval  # re-scoring weights: chosen on realtimeqa-dev with bench/retrieval.py
        rrf_k = w.rrf_k
        by_id: dict[str, Passage] = {p.id: p for p in dense}
        cosine = {p.id: p.score for p in dense}
        fusion: dict[str, float] = {}
        for rank, p in enumerate(dense):
            fusion[p.id] = fusion.get(p.id, 0.0) + 1.0 / (rrf_k + rank + 1)
        bm25_max = max((h.score for h in hits), default=0.0) or 1.0
        bm25 = {h.passage_id: h.score / bm25_max for h in hits}
        for rank, h in enumerate(hits):
            fusion[h.passage_id] = fusion.get(h.passage_id, 0.0) + 1.0 / (rrf_k + rank + 1)
        missing = [pid for pid in bm25 if pid not in by_id]
        if missing:
            for p, vec in zip(*self._fetch_with_vectors(missing), strict=False):
                by_id[p.id] = p
                cosine[p.id] = float(np.dot(vec, qvec))
        qwords = set(content_words(query))
        best_fusion = max(fusion.values(), default=1.0)
        scored = []
        for pid, p in by_id.items():
            pw = set(content_words(p.text))
            tw = set(content_words(p.title))
            coverage = len(qwords & (pw | tw)) / len(qwords) if qwords else 0.0
            p.score = (
                w.cosine_weight * cosine.get(pid, 0.0)
                + w.bm25_weight * bm25.get(pid, 0.0)
                + w.coverage_weight * coverage
                + w.fusion_weight * fusion.get(pid, 0.0) / best_fusion
            )
            scored.append(p)
        scored.sort(key=lambda p: p.score, reverse=True)
        return scored

    def _fetch_with_vectors(self, ids: list[str]) -> tuple[list[Passage], list[np.ndarray]]:
        from articleqa.store import passage_from

        got = self.store.passages.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        passages = [
            passage_from(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)
        ]
        vectors = [np.asarray(v, dtype=np.float32) for v in got["embeddings"]]
        return passages, vectors


def _cap_per_article(passages: list[Passage], cap: int) -> list[Passage]:
    counts: dict[str, int] = {}
    out = []
    for p in passages:
        if counts.get(p.article_id, 0) < cap:
            out.append(p)
            counts[p.article_id] = counts.get(p.article_id, 0) + 1
    return out
