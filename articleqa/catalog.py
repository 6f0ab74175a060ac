"""Listing and deleting stored articles: the small API shared by the CLI, the chat and its HTTP endpoints."""

from __future__ import annotations

from typing import Any

from articleqa.embed import get_embedder
from articleqa.settings import Settings
from articleqa.store import Store


def open_store(settings: Settings) -> Store:
    """A store handle; the embedding model is not loaded until something needs it."""
    return Store(settings, get_embedder(settings))


def list_articles(settings: Settings, store: Store | None = None, title_contains: str = "") -> list[dict[str, Any]]:
    """Committed articles, newest first, as plain dicts (id, title, date, source, url, author, passages, aliases)."""
    store = store or open_store(settings)
    needle = title_contains.lower().strip()
    rows = [
        {
            "id": r.id,
            "title": r.title,
            "date": r.date,
            "source": r.source,
            "url": r.url,
            "author": r.author,
            "passages": r.passages,
            "aliases": r.aliases,
        }
        for r in store.records().values()
        if r.hash and (not needle or needle in r.title.lower())
    ]
    return sorted(rows, key=lambda r: (r["date"], r["title"]), reverse=True)


def delete(settings: Settings, ids: list[str], store: Store | None = None) -> dict[str, bool]:
    """Delete articles by id under the store's write lock; returns which existed."""
    from articleqa.lock import store_lock

    store = store or open_store(settings)
    with store_lock(store.settings, "articleqa articles delete"):
        return store.delete_articles(ids)
