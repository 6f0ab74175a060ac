"""The real Chroma store: write protocol, recovery after an interrupted write, generations."""

import numpy as np
import pytest

from articleqa.models import Article
from articleqa.store import ArticleWrite, Store
from ingest.chunk import chunk, content_hash


def _write(store: Store, embedder, article: Article, previous=None):
    passages = chunk(article, 120, 1)
    vecs = embedder.encode_passages([p.text for p in passages])
    digest = content_hash(article)[:12]
    return store.replace_article(article, passages, vecs, digest, "h", "", previous), passages


def _ids(store: Store, article_id: str) -> set[str]:
    return set(store.passages.get(where={"article_id": article_id})["ids"])


def test_replace_leaves_only_new_version(settings, embedder):
    store = Store(settings, embedder)
    a1 = Article(id="a", text="First version sentence one. First version sentence two. " * 4, title="A")
    rec, p1 = _write(store, embedder, a1)
    assert _ids(store, "a") == {p.id for p in p1} and rec.passages == len(p1)
    a2 = Article(id="a", text="Second version is different. It has other words entirely. " * 4, title="A")
    rec2, p2 = _write(store, embedder, a2, store.record("a"))
    assert _ids(store, "a") == {p.id for p in p2}
    assert store.record("a").hash == rec2.hash != rec.hash
    assert store.record("a").pending == ""


@pytest.mark.parametrize("crash_at", ["passages", "delete_stale"])
def test_recover_after_interrupted_replace(settings, embedder, monkeypatch, crash_at):
    store = Store(settings, embedder)
    old = Article(id="a", text="Old text sentence one. Old text sentence two. " * 4, title="A")
    _, p_old = _write(store, embedder, old)
    new = Article(id="a", text="New text sentence one. New text sentence two. " * 4, title="A")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    target = store.passages if crash_at == "passages" else store
    monkeypatch.setattr(target, "upsert" if crash_at == "passages" else "_delete_stale", boom)
    with pytest.raises(KeyboardInterrupt):
        _write(store, embedder, new, store.record("a"))
    monkeypatch.undo()
    assert store.record("a").pending  # the record says a write was in flight
    assert store.recover() == ["a"]
    rec = store.record("a")
    assert rec.pending == ""
    expected = {p.id for p in (p_old if crash_at == "passages" else chunk(new, 120, 1))}
    assert _ids(store, "a") == expected


@pytest.mark.parametrize("crash_at_call", [1, 2, 3, 4])
def test_interrupted_batch_write_recovers_to_all_or_nothing_per_article(settings, embedder, monkeypatch, crash_at_call):
    store = Store(settings, embedder)
    old = Article(id="old", text="An earlier story sentence. It has a second sentence. " * 3)
    _, p_old = _write(store, embedder, old)
    new = Article(id="new", text="Brand new article sentence. Another one here. " * 3)
    changed = Article(id="old", text="The earlier story was corrected. Its words changed. " * 3)
    writes = []
    for art, prev in ((new, None), (changed, store.record("old"))):
        ps = chunk(art, 120, 1)
        vecs = embedder.encode_passages([p.text for p in ps])
        writes.append(ArticleWrite(art, ps, vecs, content_hash(art)[:12], "h", "", prev))
    calls = {"n": 0}

    def counting(real):
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == crash_at_call:
                raise KeyboardInterrupt("killed")
            return real(*args, **kwargs)

        return wrapper

    # the four kinds of write a batch makes: markers, passages, commit records, stale deletes / clear pending
    monkeypatch.setattr(store, "_put_records", counting(store._put_records))
    monkeypatch.setattr(store.passages, "upsert", counting(store.passages.upsert))
    monkeypatch.setattr(store, "_delete_stale", counting(store._delete_stale))
    with pytest.raises(KeyboardInterrupt):
        store.replace_articles(writes)
    monkeypatch.undo()
    store.recover()
    committed = crash_at_call >= 4  # the commit records are the third call
    rec_new, rec_old = store.record("new"), store.record("old")
    assert not any(r.pending for r in store.records().values())
    if committed:
        assert _ids(store, "new") == {p.id for p in chunk(new, 120, 1)} and rec_new.hash
        assert _ids(store, "old") == {p.id for p in chunk(changed, 120, 1)}
    else:
        assert rec_new is None and not _ids(store, "new")
        assert _ids(store, "old") == {p.id for p in p_old} and rec_old.hash == content_hash(old)[:12]


def test_generation_changes_and_delete_removes_everything(settings, embedder):
    store = Store(settings, embedder)
    _write(store, embedder, Article(id="a", text="Some sentence. Another sentence."))
    g0 = store.generation()
    store.bump_generation()
    assert store.generation() != g0
    assert store.delete_article("a") and store.record("a") is None and not _ids(store, "a")
    assert not store.delete_article("a")


def test_query_returns_cosine_scores(settings, embedder):
    store = Store(settings, embedder)
    _write(store, embedder, Article(id="a", text="The harbour bridge opened to traffic in Lisbon.", source="X"))
    _write(store, embedder, Article(id="b", text="A chef won a baking contest with a lemon tart.", source="Y"))
    hits = store.query(embedder.encode_query("When did the bridge open?"), 5)
    assert hits[0].article_id == "a" and 0 < hits[1].score < hits[0].score <= 1
    assert [p.article_id for p in store.query(embedder.encode_query("bridge"), 5, {"source": "Y"})] == ["b"]
    assert np.isclose(np.linalg.norm(embedder.encode_query("x")), 1.0, atol=1e-3)
