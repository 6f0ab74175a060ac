"""`articleqa serve`: the web chat and its HTTP API."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import fail, make_settings


def serve_command(
    host: str = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1) [env ARTICLEQA_HOST]."),
    port: int = typer.Option(None, "--port", help="Port (default 7860) [env ARTICLEQA_PORT]."),
    store: Path = typer.Option(None, "--store", help="Embedded Chroma folder [env ARTICLEQA_STORE_PATH]."),
    chroma_url: str = typer.Option(None, "--chroma-url", help="Chroma server URL [env ARTICLEQA_CHROMA_URL]."),
    collection: str = typer.Option(None, "--collection", help="Collection name [env ARTICLEQA_COLLECTION]."),
    llm_url: str = typer.Option(None, "--llm-url", help="OpenAI-compatible endpoint; enables the llm answer mode."),
    username: str = typer.Option(None, "--username", help="Login user (needed for a non-local --host)."),
    password: str = typer.Option(None, "--password", help="Login password [env ARTICLEQA_PASSWORD]."),
    allow_no_auth: bool = typer.Option(False, "--allow-no-auth", help="Allow a non-local --host without a login."),
) -> None:
    """Start the web chat: ask with cited sources, browse, upload and delete articles; also an HTTP API.

    Binds 127.0.0.1 unless told otherwise; any other address needs --username and --password (or --allow-no-auth).

    Examples:

      articleqa serve

      articleqa serve --store news_db --port 8080

      ARTICLEQA_PASSWORD=secret articleqa serve --host 0.0.0.0 --username editor
    """
    settings = make_settings(
        host=host, port=port, store_path=store, chroma_url=chroma_url, collection=collection, llm_base_url=llm_url,
        username=username, password=password, allow_no_auth=allow_no_auth or None,
    )
    from app import bind_error, launch
    from articleqa.store import StoreError

    chat = settings.chat
    problem = bind_error(chat.host, chat.username, chat.password, chat.allow_no_auth)
    if problem:
        fail(problem)
    try:
        launch(settings)
    except StoreError as exc:  # store busy or server not reachable: one line, not a traceback
        fail(str(exc))
