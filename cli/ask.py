"""`articleqa ask`: answer one question from the stored articles, with checked citations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    CollOpt,
    StoreOpt,
    UrlOpt,
    check_mode,
    emit_json,
    fail,
    make_settings,
    parse_date,
)

if TYPE_CHECKING:
    from articleqa.settings import Settings


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
    local: Annotated[bool, typer.Option(
        "--local", help="Answer in this process, not through the running chat or answer daemon "
        "[env ARTICLEQA_ASK_SERVER=off].")] = False,
) -> None:
    """Answer a question from the stored articles, with numbered, checked citations.

    Exit code: 0 answered, 3 refused (the articles do not say), 2 error.

    Examples:

      articleqa ask "Who accompanied Kim?"

      articleqa ask "What did Xi say last week?" --source "Japan Today" --json

      articleqa ask "Who accompanied Kim?" --mode llm --llm-url http://localhost:11434/v1

    On the embedded store the question goes through the running chat or the answer daemon (started on first use,
    it keeps the models loaded; see `articleqa answer-daemon --help`); --local answers in this process.
    """
    check_mode(mode)
    parse_date(reference_date, "--reference-date")
    settings = make_settings(
        store_path=store,
        chroma_url=chroma_url,
        collection=collection,
        reference_date=reference_date,
        llm_base_url=llm_url,
    )
    since_day, until_day = parse_date(since, "--since"), parse_date(until, "--until")
    served = settings.chat.ask_server
    # An LLM answer takes seconds anyway and needs this command's endpoint: it is answered here.
    if not local and served != "off" and (mode or settings.answer.mode) != "llm" and llm_url is None:
        from cli.daemon import remote_answer

        payload = {"question": question, "source": source, "since": since, "until": until, "mode": mode,
                   "reference_date": settings.answer.reference_date}
        reply = remote_answer(settings, payload, start=served == "auto")
        if reply is not None:
            if reference_date is None:  # the next `ask` here can skip this command's start-up (cli/fast_ask.py)
                _remember(settings, store, collection)
            _show(reply["answer"], as_json)
            raise typer.Exit(EXIT_REFUSED if reply["refused"] else EXIT_OK)
    from articleqa.lock import busy_reason
    from articleqa.rwlock import StoreWriting, last_wait, reading
    from articleqa.store import StoreError
    from qa.ask import Asker, Request, warm_up

    warm_up(settings)  # models load before the store is held, so an ingest waits for the search alone
    try:
        with reading(settings) as lease:
            asker = Asker(settings)
            asker.after_retrieval = lease.release  # answering and checking need the store no more
            answer = asker.ask(
                Request(
                    question,
                    source=source,
                    since=since_day,
                    until=until_day,
                    mode=mode,
                )
            )
    except (StoreError, StoreWriting) as exc:
        fail(busy_reason(settings, exc))
    answer.timings["store_wait"] = last_wait()
    _show(answer.to_dict(), as_json)
    raise typer.Exit(EXIT_REFUSED if answer.refused else EXIT_OK)


def _remember(settings: Settings, store: Path | None, collection: str | None) -> None:
    import os

    from articleqa.endpoint import fingerprint, store_folder, without_reference_date
    from cli.fast_ask import client_key, remember

    folder = store_folder(settings)
    if folder is not None:
        remember(client_key(os.environ, None if store is None else str(store), collection), folder,
                 fingerprint(without_reference_date(settings)), settings.answer.reference_date,
                 timeout=2 * settings.limits.read_wait + 300, stall=settings.chat.ask_server_stall)


def _show(answer: dict, as_json: bool) -> None:
    """The answer as JSON or as text: the same whether this process or the answer daemon computed it."""
    if as_json:
        emit_json(answer, ensure_ascii=False)
        return
    from articleqa.models import Answer
    from qa.render import print_answer

    print_answer(Answer.from_dict(answer))
