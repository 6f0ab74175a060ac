"""`articleqa ask`: answer one question from the stored articles, with checked citations."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import EXIT_OK, EXIT_REFUSED, CollOpt, StoreOpt, UrlOpt, check_mode, fail, make_settings, parse_date


def ask_command(
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
    from articleqa.lock import store_lock
    from articleqa.store import StoreError
    from qa.ask import Asker, Request

    check_mode(mode)
    settings = make_settings(
        store_path=store,
        chroma_url=chroma_url,
        collection=collection,
        reference_date=reference_date,
        llm_base_url=llm_url,
    )
    try:
        with store_lock(settings, "articleqa ask", write=False):
            answer = Asker(settings).ask(
                Request(
                    question,
                    source=source,
                    since=parse_date(since, "--since"),
                    until=parse_date(until, "--until"),
                    mode=mode,
                )
            )
    except StoreError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        from qa.render import print_answer

        print_answer(answer)
    raise typer.Exit(EXIT_REFUSED if answer.refused else EXIT_OK)
