"""Copy a collection (passages, article records, generation) between stores with its stored embeddings, resumably."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from articleqa.settings import Settings
from articleqa.store import ArticleRecord, PassageRows, StagedArticle, Store, StoreError

ProgressFn = Callable[[int, int], None]  # (articles settled so far, articles in the source)


@dataclass
class MigrateReport:
    """What one migration did; `copied` + `unchanged` + `skipped` is the source's article count."""

    copied: int = 0  # articles written to the target (new or changed there)
    unchanged: int = 0  # already identical in the target (a re-run copies nothing)
    skipped: list[str] = field(default_factory=list)  # half-written in the source (never committed): not copied
    passages: int = 0  # passages written
    pruned: int = 0  # target-only articles removed (with prune)
    repaired: list[str] = field(default_factory=list)  # target articles an interrupted migration left pending

    def summary(self) -> str:
        return (
            f"{self.copied} copied, {self.unchanged} unchanged, {len(self.skipped)} skipped (uncommitted), "
            f"{self.pruned} pruned; {self.passages} passages written"
        )


def describe(settings: Settings) -> str:
    """Where a store lives, for messages: the server URL or the folder, plus the collection."""
    return f"{settings.store.chroma_url or settings.store.path} (collection {settings.store.collection})"


def same_store(a: Settings, b: Settings) -> bool:
    """Whether two settings name the same collection in the same place."""
    from pathlib import Path

    where_a = a.store.chroma_url.rstrip("/") if a.store.chroma_url else str(Path(a.store.path).resolve())
    where_b = b.store.chroma_url.rstrip("/") if b.store.chroma_url else str(Path(b.store.path).resolve())
    return where_a == where_b and a.store.collection == b.store.collection


def _open(settings: Settings) -> Store:
    from articleqa.embed import get_embedder

    # The embedder is only handed to Chroma; nothing here embeds, so the model never loads.
    return Store(settings, get_embedder(settings))


def _page(collection, ids: list[str] | None = None, where: dict | None = None, limit: int | None = None,
          offset: int | None = None) -> dict[str, Any]:
    return collection.get(ids=ids, where=where, limit=limit, offset=offset,
                          include=["embeddings", "documents", "metadatas"])


def _rows(got: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[float]]]:
    embs = got.get("embeddings")
    embs = [] if embs is None else embs
    return [
        (rid, doc or "", dict(meta or {}), [float(x) for x in emb])
        for rid, doc, meta, emb in zip(got["ids"], got["documents"], got["metadatas"], embs, strict=False)
    ]


def migrate(
    source: Settings, target: Settings, page: int = 200, prune: bool = False, on_progress: ProgressFn | None = None
) -> MigrateReport:
    """Copy every committed article of `source` into `target`, with its passages and their stored embeddings.

    Each page of articles is written with the store's pending/commit protocol, so a migration killed at any moment
    leaves the target consistent and a re-run finishes it; articles already identical in the target are skipped.

    Args:
        source: settings naming the store to read (embedded folder or server, and collection).
        target: settings naming the store to write.
        page: articles per page (their passages are copied in pages of at most 1000).
        prune: also delete target articles that the source does not have (the target becomes an exact copy).
        on_progress: called after each page with (articles settled, source articles).
    Returns:
        The report.
    Raises:
        StoreError: a store cannot be opened or written, or source and target are the same collection.
    """
    from articleqa.lock import store_lock
    from articleqa.rwlock import writing

    if same_store(source, target):
        raise StoreError(f"source and target are the same collection: {describe(source)}")
    # Questions on the target wait (up to read_wait) while it is copied into: they never read half a copy.
    with store_lock(source, "articleqa migrate", write=False), store_lock(target, "articleqa migrate"), \
            writing(target):
        src, dst = _open(source), _open(target)
        report = MigrateReport(repaired=dst.recover())
        total = src.articles.count()
        done = 0
        offset = 0
        copied_ids: set[str] = set()
        while True:
            got = _rows(_page(src.articles, limit=page, offset=offset))
            if not got:
                break
            offset += len(got)
            _copy_page(src, dst, got, report, copied_ids)
            done += len(got)
            if on_progress:
                on_progress(done, total)
            if len(got) < page:
                break
        if prune:
            report.pruned = _prune(dst, copied_ids)
        if report.copied or report.pruned or report.repaired:
            _carry_generation(src, dst, copied_ids)
        return report


def _copy_page(src: Store, dst: Store, rows, report: MigrateReport, copied_ids: set[str]) -> None:
    committed = []
    for rid, doc, meta, emb in rows:
        rec = ArticleRecord.from_chroma(rid, meta)
        if not rec.hash:
            report.skipped.append(rid)  # a first write the source never finished: it does not exist yet
            continue
        copied_ids.add(rid)
        committed.append((rec, doc, emb))
    if not committed:
        return
    existing = {r[0]: ArticleRecord.from_chroma(r[0], r[2])
                for r in _rows(_page(dst.articles, ids=[rec.id for rec, _, _ in committed]))}
    staged = []
    for rec, doc, emb in committed:
        old = existing.get(rec.id)
        if old and old.hash == rec.hash and not old.pending:
            report.unchanged += 1
            continue
        # Only the committed version's passages: an in-flight newer version in the source is not copied.
        passages = _passages(src, rec)
        report.passages += len(passages.ids)
        staged.append(StagedArticle(rec.with_pending(""), doc, emb, passages, old))
    dst.write(staged)
    report.copied += len(staged)


def _passages(src: Store, rec: ArticleRecord, page: int = 1000) -> PassageRows:
    where = {"$and": [{"article_id": rec.id}, {"content_hash": rec.hash}]}
    out, offset = PassageRows(), 0
    while True:
        rows = _rows(_page(src.passages, where=where, limit=page, offset=offset))
        out.extend(PassageRows(*map(list, zip(*rows, strict=True))) if rows else PassageRows())
        offset += len(rows)
        if len(rows) < page:
            return out


def _prune(dst: Store, keep: set[str]) -> int:
    extra = [rid for rid in dst.records() if rid not in keep]
    for rid in extra:
        dst.delete_article(rid)
    return len(extra)


def _carry_generation(src: Store, dst: Store, copied_ids: set[str]) -> None:
    # The source's token names the source's content. It is only true of the target when the target now holds
    # exactly that content; otherwise a fresh token, so no keyword index trusts an old build of the target.
    if set(dst.records()) == copied_ids and src.generation():
        dst.set_generation(src.generation())
    else:
        dst.bump_generation()
