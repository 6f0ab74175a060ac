"""Hybrid retrieval over a real store: fusion finds the right article, filters hold, one article cannot crowd out."""

from __future__ import annotations

import datetime as dt

import pytest

from ingest.pipeline import Ingestor
from qa.retrieve import Filters, HybridRetriever
from tests.conftest import SEED, make_article

pytestmark = pytest.mark.slow


@pytest.fixture
def retriever(settings, embedder, corpus_file):
    ing = Ingestor(settings, embedder=embedder)
    assert ing.run([str(corpus_file(8)), str(SEED)]).ok
    return HybridRetriever(settings, ing.store, embedder)


def test_the_article_answering_the_question_comes_first(retriever):
    got = retriever.run("Who accompanied Kim Jong Un on his trip to Beijing?")
    assert got.passages and "Kim" in got.passages[0].text
    assert [p.score for p in got.passages] == sorted((p.score for p in got.passages), reverse=True)
    assert set(got.timings) == {"embed_query", "dense", "keyword", "rerank"}
    assert len(got.passages) <= retriever.settings.retrieval.top_k and got.candidates >= len(got.passages)


def test_at_most_max_per_article(retriever):
    got = retriever.run("plan cost million dollars years to finish", k=8)
    per_article: dict[str, int] = {}
    for p in got.passages:
        per_article[p.article_id] = per_article.get(p.article_id, 0) + 1
    assert max(per_article.values()) <= retriever.settings.retrieval.max_per_article


def test_filters_restrict_source_and_dates(retriever):
    target = make_article(2)
    by_source = retriever.run(target["title"], Filters(source=target["source"]))
    assert by_source.passages and all(p.source == target["source"] for p in by_source.passages)
    day = dt.date.fromisoformat(target["publish_date"])
    dated = retriever.run(target["title"], Filters(since=day, until=day))
    assert dated.passages and all(p.date == target["publish_date"] for p in dated.passages)
    assert retriever.run("Kim", Filters(since=dt.date(2030, 1, 1))).passages == []


def test_weights_come_from_settings(retriever):
    query = "Who accompanied Kim Jong Un on his trip to Beijing?"
    default = retriever.run(query).passages
    dense_only = retriever.settings.with_overrides(bm25_weight=0.0, coverage_weight=0.0, fusion_weight=0.0)
    only = HybridRetriever(dense_only, retriever.store, retriever.embedder).run(query).passages
    assert only and all(abs(p.score - 0.40 * _cos(p, retriever, query)) < 1e-4 for p in only[:1])
    assert default[0].score != pytest.approx(only[0].score)


def _cos(passage, retriever, query) -> float:
    from qa.cite import encode_cached

    qvec = encode_cached(retriever.embedder, [query])[0]
    return next(p.score for p in retriever.store.query(qvec, 30) if p.id == passage.id)
