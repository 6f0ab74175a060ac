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
