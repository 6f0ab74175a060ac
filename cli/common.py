"""What every command shares: store options, exit codes, settings from flags, one-line failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from articleqa.settings import Settings



def _store_path(value: str | None) -> Path | None:
    """--store as a Path; an empty value is refused (Path("") is the current folder: an unset shell variable must not
    make it a store)."""
    if value is None:
        return None
    if not value.strip():
        raise typer.BadParameter("is empty; give the store's folder", param_hint="--store")
    return Path(value)


# Typed str (with the callback making it a Path): Typer would turn "" into Path("."), indistinguishable from ".".
StoreOpt = Annotated[str | None, typer.Option(
    "--store", callback=_store_path, help="Embedded Chroma folder [env ARTICLEQA_STORE_PATH].")]
UrlOpt = Annotated[str | None, typer.Option("--chroma-url", help="Chroma server URL [env ARTICLEQA_CHROMA_URL].")]
CollOpt = Annotated[str | None, typer.Option("--collection", help="Collection name [env ARTICLEQA_COLLECTION].")]

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2, 3
MESSAGE_CHARS = 600  # longest error message printed (inputs and options quoted in it are cut)


def make_settings(**overrides: object) -> Settings:
    """Settings from the environment, with CLI flags (when given) on top: built once per command."""
    from articleqa.settings import Settings

    return Settings().with_overrides(**overrides)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """One line on stderr naming the input and the reason (control characters escaped), then exit with `code`;
    under --json the message goes into the JSON printed on stdout (cli/guard.py)."""
    from articleqa.safe_text import one_line_safe, shorten
    from cli.guard import note_error

    message = shorten(message, MESSAGE_CHARS)  # a 5,000-character collection name quoted back is not one clear line
    note_error(message)
    typer.echo(f"error: {one_line_safe(message)}", err=True)
    raise typer.Exit(code)


def emit_json(value: object, **dumps: object) -> None:
    """Print a command's JSON result on stdout (the guard then prints no error JSON of its own)."""
    from cli.guard import emit_json as emit

    emit(value, **dumps)


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
