"""What every command shares: store options, exit codes, settings from flags, one-line failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from articleqa.settings import Settings

StoreOpt = Annotated[Path | None, typer.Option("--store", help="Embedded Chroma folder [env ARTICLEQA_STORE_PATH].")]
UrlOpt = Annotated[str | None, typer.Option("--chroma-url", help="Chroma server URL [env ARTICLEQA_CHROMA_URL].")]
CollOpt = Annotated[str | None, typer.Option("--collection", help="Collection name [env ARTICLEQA_COLLECTION].")]

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2, 3


def make_settings(**overrides: object) -> Settings:
    """Settings from the environment, with CLI flags (when given) on top: built once per command."""
    from articleqa.settings import Settings

    return Settings().with_overrides(**overrides)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """One line on stderr naming the input and the reason, then exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def check_mode(mode: str | None) -> None:
    """Exit 2 on an answer mode the system does not have."""
    from articleqa.settings import ANSWER_MODES

    if mode not in (None, *ANSWER_MODES):
        fail(f"--mode {mode!r}: expected extractive or llm")


def parse_date(value: str | None, flag: str) -> dt.date | None:
    """A YYYY-MM-DD flag value, or exit 2 naming the flag."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{flag} {value!r}: expected a date like 2025-09-04")
