"""The `articleqa` command: ingest, articles, ask, eval and serve. Heavy imports happen inside the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="articleqa",
    help="Question answering over news articles, with every claim cited to its passage.\n\n"
    'Examples:\n\n  articleqa ingest samples/\n\n  articleqa ask "Who accompanied Kim?"\n\n  articleqa serve'
    "\n\n  articleqa migrate --from-store chroma_db --to-url http://127.0.0.1:8000"
    "\n\nAdd --debug to any command to see the traceback of an unexpected error.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
articles_app = typer.Typer(help="List or delete stored articles.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")

StoreOpt = Annotated[Path | None, typer.Option("--store", help="Embedded Chroma folder [env ARTICLEQA_STORE_PATH].")]
UrlOpt = Annotated[str | None, typer.Option("--chroma-url", help="Chroma server URL [env ARTICLEQA_CHROMA_URL].")]
CollOpt = Annotated[str | None, typer.Option("--collection", help="Collection name [env ARTICLEQA_COLLECTION].")]

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2, 3


def make_settings(**overrides: object):
    """Settings from the environment, with CLI flags (when given) on top."""
    from articleqa.settings import Settings

    return Settings().with_overrides(**overrides)


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    from articleqa.guard import note_error
    from articleqa.safe_text import one_line_safe

    note_error(message)
    typer.echo(f"error: {one_line_safe(message)}", err=True)
    raise typer.Exit(code)


def _emit_json(value: object, **dumps: object) -> None:
    from articleqa.guard import emit_json

    emit_json(value, **dumps)


@app.command()
def ingest(
    inputs: Annotated[
        list[str], typer.Argument(help="Files, folders, URLs or RSS/Atom feed URLs.", show_default=False)
    ],
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    collection: CollOpt = None,
    include: Annotated[list[str] | None, typer.Option("--include", help="Glob a file in a folder must match.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob of files in folders to skip.")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Target passage length in characters.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and the summary line.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
) -> None:
    """Ingest articles: clean, chunk, embed and store them. Re-running skips unchanged articles.

    Exit code: 0 all inputs fine, 1 some inputs failed (the rest were stored), 2 nothing could be done.

    Examples:

      articleqa ingest samples/

      articleqa ingest news/ --include '*.html' --exclude 'drafts/*'

      articleqa ingest https://example.com/feed.xml --json
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
    try:
        with store_lock(settings, "articleqa ingest"):
            report = run_with_progress(settings, inputs, quiet=quiet or as_json)
    except StoreError as exc:
        _fail(str(exc))
    if as_json:
        _emit_json(report.to_dict())
    if not report.items:
        _fail("no inputs found")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_PARTIAL)


@articles_app.command("list")
def articles_list(
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
    from articleqa.lock import busy_reason
    from articleqa.rwlock import StoreWriting, reading
    from articleqa.store import StoreError

    settings = make_settings(store_path=store, chroma_url=chroma_url, collection=collection)
    try:
        with reading(settings):
            rows = list_articles(settings)
    except (StoreError, StoreWriting) as exc:
        _fail(busy_reason(settings, exc))
    if as_json:
        _emit_json(rows)
        return
    from rich.markup import escape

    from articleqa.safe_text import one_line_safe

    table = Table("id", "title", "date", "source", "passages")
    for r in rows:
        # Stored fields are untrusted: control characters are shown escaped, never sent to the terminal.
        table.add_row(*(escape(one_line_safe(str(r[k]))) for k in ("id", "title", "date", "source", "passages")))
    Console().print(table)
    typer.echo(f"{len(rows)} articles", err=True)


@articles_app.command("delete")
def articles_delete(
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
        _fail(str(exc))
    for aid, existed in result.items():
        typer.echo(f"deleted: {aid}" if existed else f"error: {aid}: no such article", err=not existed)
    raise typer.Exit(EXIT_OK if all(result.values()) else EXIT_PARTIAL)


def _parse_date(value: str | None, flag: str):
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{flag} {value!r}: expected a date like 2025-09-04")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.", show_default=False)],
    source: Annotated[str | None, typer.Option(help="Only articles from this source (e.g. 'Japan Today').")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only articles published on or after this date (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only articles published on or before this date (YYYY-MM-DD).")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="extractive (no LLM, default) or llm.")] = None,
    reference_date: Annotated[
        str | None, typer.Option(help="Date that 'last week' etc. count from (default today).")
    ] = None,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible endpoint for --mode llm.")] = None,
    store: StoreOpt = None,
    chroma_url: UrlOpt = None,
    collection: CollOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the structured result as JSON.")] = False,
) -> None:
    """Answer a question from the stored articles, with numbered, checked citations.

    Exit code: 0 answered, 3 refused (the articles do not say), 2 error.

    Examples:

      articleqa ask "Who accompanied Kim?"

      articleqa ask "What did Xi say last week?" --source "Japan Today" --json

      articleqa ask "Who accompanied Kim?" --mode llm --llm-url http://localhost:11434/v1
    """
    from articleqa.lock import busy_reason
    from articleqa.rwlock import StoreWriting, last_wait, reading
    from articleqa.store import StoreError
    from qa.ask import Asker, Request, warm_up

    if mode not in (None, "extractive", "llm"):
        _fail(f"--mode {mode!r}: expected extractive or llm")
    _parse_date(reference_date, "--reference-date")
    settings = make_settings(
        store_path=store,
        chroma_url=chroma_url,
        collection=collection,
        reference_date=reference_date,
        llm_base_url=llm_url,
    )
    warm_up(settings)  # models load before the store is held, so an ingest waits for the search alone
    try:
        with reading(settings) as lease:
            asker = Asker(settings)
            asker.after_retrieval = lease.release  # answering and checking need the store no more
            answer = asker.ask(
                Request(
                    question,
                    source=source,
                    since=_parse_date(since, "--since"),
                    until=_parse_date(until, "--until"),
                    mode=mode,
                )
            )
    except (StoreError, StoreWriting) as exc:
        _fail(busy_reason(settings, exc))
    answer.timings["store_wait"] = last_wait()
    if as_json:
        _emit_json(answer.to_dict(), ensure_ascii=False)
    else:
        from qa.render import print_answer

        print_answer(answer)
    raise typer.Exit(EXIT_REFUSED if answer.refused else EXIT_OK)


@app.command()
def migrate(
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
        _fail("give exactly one of --from-store/--from-url and one of --to-store/--to-url")
    base = make_settings(collection=collection)
    source = base.model_copy(update={"store_path": from_store or base.store_path, "chroma_url": from_url})
    target = base.model_copy(
        update={"store_path": to_store or base.store_path, "chroma_url": to_url,
                "collection": to_collection or base.collection}
    )
    console = Console(stderr=True, highlight=False)
    progress = Progress(TextColumn("[bold]migrate[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("articles"),
                        TimeElapsedColumn(), console=console, disable=quiet, transient=True)
    try:
        with progress:
            task = progress.add_task("migrate", total=None)
            report = run_migrate(source, target, page=page, prune=prune,
                                 on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    except StoreError as exc:
        _fail(str(exc))
    if report.repaired:
        console.print(f"repaired {len(report.repaired)} article(s) an interrupted migration left half-written")
    console.print(f"{describe(source)} -> {describe(target)}: {report.summary()}")


def _register_optional_commands() -> None:
    # These modules keep their heavy imports inside functions, so registering them costs milliseconds.
    try:
        from evaluation.cli import eval_command

        app.command("eval")(eval_command)
    except ImportError:
        pass
    try:
        from app import serve_command

        app.command("serve")(serve_command)
    except ImportError:
        pass


_register_optional_commands()


def main() -> None:
    """Console entry point: every failure is one line (valid JSON under --json), `--debug` shows tracebacks."""
    from articleqa.guard import run

    sys.exit(run(app))


if __name__ == "__main__":
    main()
