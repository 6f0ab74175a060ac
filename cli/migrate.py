"""`articleqa migrate`: copy a collection to another store without re-embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import CollOpt, fail, make_settings


def migrate_command(
    from_store: Annotated[Path | None, typer.Option("--from-store", help="Embedded folder to copy from.")] = None,
    from_url: Annotated[str | None, typer.Option("--from-url", help="Chroma server to copy from.")] = None,
    to_store: Annotated[Path | None, typer.Option("--to-store", help="Embedded folder to copy into.")] = None,
    to_url: Annotated[str | None, typer.Option("--to-url", help="Chroma server to copy into.")] = None,
    collection: CollOpt = None,
    to_collection: Annotated[
        str | None, typer.Option("--to-collection", help="Collection name in the target [default: the same].")
    ] = None,
    page: Annotated[int, typer.Option(help="Articles per page.", min=1)] = 200,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete target articles the source does not have (exact copy).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the summary line.")] = False,
) -> None:
    """Copy a collection (passages, article records, generation) to another store without re-embedding.

    Give one source (--from-store or --from-url) and one target (--to-store or --to-url). Stored embeddings are
    copied as they are, page by page, with the crash-safe write protocol: re-running finishes an interrupted
    migration and copies nothing that is already there. Articles only in the target are kept unless --prune.

    Exit code: 0 done, 2 error (a store not reachable or busy, or source and target the same).

    Examples:

      articleqa migrate --from-store chroma_db --to-url http://127.0.0.1:8000

      articleqa migrate --from-url http://127.0.0.1:8000 --to-store backup_db --prune

      articleqa migrate --from-store chroma_db --to-store copy_db --collection articles --to-collection news
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from articleqa.migrate import describe
    from articleqa.migrate import migrate as run_migrate
    from articleqa.store import StoreError

    if (from_store is None) == (from_url is None) or (to_store is None) == (to_url is None):
        fail("give exactly one of --from-store/--from-url and one of --to-store/--to-url")
    base = make_settings(collection=collection)

    def at(path: Path | None, url: str | None, coll: str | None = None):
        # A URL given or not: the environment's chroma_url must not leak into the side given as a folder.
        store = base.store.model_copy(update={"path": path or base.store.path, "chroma_url": url,
                                              "collection": coll or base.store.collection})
        return base.model_copy(update={"store": store})

    source, target = at(from_store, from_url), at(to_store, to_url, to_collection)
    console = Console(stderr=True, highlight=False)
    progress = Progress(TextColumn("[bold]migrate[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("articles"),
                        TimeElapsedColumn(), console=console, disable=quiet, transient=True)
    try:
        with progress:
            task = progress.add_task("migrate", total=None)
            report = run_migrate(source, target, page=page, prune=prune,
                                 on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    except StoreError as exc:
        fail(str(exc))
    if report.repaired:
        console.print(f"repaired {len(report.repaired)} article(s) an interrupted migration left half-written")
    console.print(f"{describe(source)} -> {describe(target)}: {report.summary()}")
