"""`articleqa articles list|delete`: the stored articles."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import EXIT_OK, EXIT_PARTIAL, CollOpt, StoreOpt, UrlOpt, fail, make_settings

articles_app = typer.Typer(help="List or delete stored articles.", no_args_is_help=True)


@articles_app.command("list")
def list_command(
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    collection: CollOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List stored articles (id, title, date, source, passages).

    Example:

      articleqa articles list --json
    """
    from rich.console import Console
    from rich.table import Table

    from articleqa.catalog import list_articles
    from articleqa.lock import store_lock
    from articleqa.store import StoreError

    settings = make_settings(store_path=store, chroma_url=chroma_url, collection=collection)
    try:
        with store_lock(settings, "articleqa articles list", write=False):
            rows = list_articles(settings)
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "title", "date", "source", "passages")
    for r in rows:
        table.add_row(r["id"], r["title"], r["date"], r["source"], str(r["passages"]))
    Console().print(table)
    typer.echo(f"{len(rows)} articles", err=True)


@articles_app.command("delete")
def delete_command(
    ids: Annotated[list[str], typer.Argument(help="Article ids (see `articleqa articles list`).", show_default=False)],
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    collection: CollOpt = None,
) -> None:
    """Delete articles and all their passages.

    Example:

      articleqa articles delete rtqa-5b14cd16b6fe
    """
    from articleqa.catalog import delete
    from articleqa.store import StoreError

    try:
        result = delete(make_settings(store_path=store, chroma_url=chroma_url, collection=collection), ids)
    except StoreError as exc:
        fail(str(exc))
    for aid, existed in result.items():
        typer.echo(f"deleted: {aid}" if existed else f"error: {aid}: no such article", err=not existed)
    raise typer.Exit(EXIT_OK if all(result.values()) else EXIT_PARTIAL)
