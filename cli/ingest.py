"""`articleqa ingest`: clean, chunk, embed and store articles from files, folders, URLs and feeds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import EXIT_OK, EXIT_PARTIAL, CollOpt, StoreOpt, UrlOpt, emit_json, fail, make_settings

if TYPE_CHECKING:
    from articleqa.settings import Settings


def ingest_command(
    inputs: Annotated[
        list[str], typer.Argument(help="Files, folders, URLs or RSS/Atom feed URLs.", show_default=False)
    ],
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    collection: CollOpt = None,
    include: Annotated[list[str] | None, typer.Option("--include", help="Glob a file in a folder must match.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob of files in folders to skip.")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Target passage length in characters.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="Worker processes that embed and store in parallel (needs --chroma-url).",
    )] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the summary line.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
) -> None:
    """Ingest articles: clean, chunk, embed and store them. Re-running skips unchanged articles.

    Exit code: 0 all inputs fine, 1 some inputs failed (the rest were stored), 2 nothing could be done.

    Examples:

      articleqa ingest samples/articles/

      articleqa ingest news/ --include '\\*.html' --exclude 'drafts/\\*'

      articleqa ingest https://example.com/feed.xml --json

      articleqa ingest news/ --chroma-url http://127.0.0.1:8000 --workers 4
    """
    from articleqa.lock import store_lock
    from articleqa.store import StoreError
    from ingest.progress import run_with_progress

    settings = make_settings(
        store_path=store,
        chroma_url=chroma_url,
        collection=collection,
        include=include or None,
        exclude=exclude or None,
        chunk_size=chunk_size,
    )
    if workers > 1 and not settings.store.chroma_url:
        from ingest.parallel import NEEDS_SERVER

        fail(NEEDS_SERVER)

    from articleqa.priority import PriorityThread, lower_this_thread

    # Questions (the chat, the answer daemon) must win the CPU over a feed ingest; threads torch starts from here on
    # inherit the lower priority. The main thread itself, so the input budget's SIGALRM still interrupts the work.
    # Its store locks, which readers wait for, are taken on a thread made before the lowering (articleqa/priority.py);
    # the Ingestor opens the store there, so Chroma's own threads start from it too.
    writer = PriorityThread(0, "articleqa-write") if workers == 1 else None
    try:
        with store_lock(settings, "articleqa ingest"):
            lower_this_thread(settings.chat.ingest_nice)
            report = run_with_progress(settings, inputs, quiet=quiet or as_json, workers=workers, writer=writer)
            _update_keyword_index(settings, report.passages_embedded)
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        emit_json(report.to_dict())
    if not report.items:
        fail("no inputs found")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)


def _update_keyword_index(settings: Settings, passages_written: int) -> None:
    """Bring this machine's keyword index up to date with what the ingest wrote, before it returns: a question asked
    afterwards in any process here finds nothing to catch up (qa/keyword_index.py `after_write`)."""
    if not passages_written:
        return
    from articleqa.embed import get_embedder
    from articleqa.store import Store
    from qa.keyword_index import KeywordIndex

    try:
        KeywordIndex(settings, Store(settings, get_embedder(settings))).after_write(passages_written)
    except Exception:  # noqa: BLE001 - the articles are stored; the next question catches the index up instead
        pass

