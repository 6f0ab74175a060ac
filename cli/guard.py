"""The one error path of every command: usage errors and unexpected failures become one line (and valid JSON on
stdout under --json); `--debug` shows the traceback."""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from articleqa.safe_text import one_line_safe, redact_urls, shorten


@dataclass
class _State:
    json_requested: bool = False
    json_printed: bool = False
    last_error: str = ""


_state = _State()


def emit_json(value: Any, **dumps: Any) -> None:
    """Print a command's JSON result on stdout (and remember that it was printed)."""
    print(json.dumps(value, **({"indent": 2} | dumps)), flush=True)
    _state.json_printed = True


def note_error(message: str) -> None:
    """Remember the error a command is about to exit with, for the JSON printed when it printed none."""
    _state.last_error = message


def describe(exc: BaseException) -> str:
    """An exception as one line naming what it was about: a setting for validation errors, else type and text."""
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover - pydantic is a dependency
        ValidationError = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, ValidationError):
        from articleqa.settings import FLAT

        flat_of = {where: name for name, where in FLAT.items()}
        parts = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err.get("loc", ()))
            # ("answer", "reference_date") is the flat setting reference_date, ARTICLEQA_REFERENCE_DATE.
            field = flat_of.get(loc[:2], ".".join(loc)) if loc else "settings"
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"setting {field} (ARTICLEQA_{field.upper()}): {msg}")
        return "; ".join(parts)
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return redact_urls(f"{type(exc).__name__}: {text}")


def run(app: Any, argv: list[str] | None = None, prog_name: str = "articleqa") -> int:
    """Run a Typer app so that nothing escapes as a traceback.

    Args:
        app: the Typer application.
        argv: arguments (default sys.argv[1:]); `--debug` anywhere (or ARTICLEQA_DEBUG=1) shows tracebacks.
        prog_name: the command name used in messages.
    Returns:
        The exit code: the command's own, 2 for usage errors and unexpected failures, 130 on Ctrl-C.
    """
    exits, usage_errors, aborts = _exception_kinds()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("ARTICLEQA_DEBUG", "") not in ("", "0")
    args = [a for a in args if a != "--debug"]
    command = next((a for a in args if not a.startswith("-")), "")
    # `eval --json PATH` names a file; everywhere else --json asks for JSON on stdout.
    _state.json_requested, _state.json_printed, _state.last_error = "--json" in args and command != "eval", False, ""
    where = f"{prog_name} {command}".strip()
    _quiet_libraries(debug)
    try:
        code = app(args=args, prog_name=prog_name, standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except exits as exc:
        code = exc.exit_code
    except usage_errors as exc:  # usage errors: a bad option value, a missing argument
        _show_usage_error(exc)
        note_error(one_line_safe(shorten(exc.format_message(), 600)))
        code = exc.exit_code
    except aborts:
        note_error("interrupted")
        code = 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        message = f"{where}: {describe(exc)}"
        hint = "" if debug or _is_usage(exc) else " (run with --debug for the traceback)"
        print(f"error: {one_line_safe(message)}{hint}", file=sys.stderr, flush=True)
        note_error(one_line_safe(message))
        code = 2
    if _state.json_requested and not _state.json_printed and code not in (0, None):
        emit_json({"ok": False, "exit_code": code, "error": _state.last_error or f"{where} failed (exit {code})"})
    return code


def _quiet_libraries(debug: bool) -> None:
    """Library log records (pypdf's "EOF marker not found", feedparser's and trafilatura's notes) are not the
    command's output: every problem is already one line naming the input. `--debug` shows them."""
    import logging

    root = logging.getLogger()
    if debug:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    elif not root.handlers:
        root.addHandler(logging.NullHandler())  # no handler at all would send warnings to stderr (lastResort)


def _exception_kinds() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(exit, usage error, abort) exception types of click and of the copy of click that Typer vendors."""
    import click
    import typer

    modules = [click]
    try:
        from typer import _click as vendored

        modules.append(vendored)
    except ImportError:  # pragma: no cover - older Typer uses click itself
        pass

    def kinds(*names: str) -> tuple[type, ...]:
        found = []
        for module in modules:
            for name in names:
                kind = getattr(module, name, None) or getattr(getattr(module, "exceptions", None), name, None)
                if isinstance(kind, type):
                    found.append(kind)
        return tuple(found)

    return (kinds("Exit") + (typer.Exit,), kinds("ClickException"),
            kinds("Abort") + (typer.Abort, KeyboardInterrupt))


def _is_usage(exc: BaseException) -> bool:
    # A bad setting is the user's to fix, not a bug: no traceback hint.
    return type(exc).__name__ in ("ValidationError", "SettingsError")


def _show_usage_error(exc: Any) -> None:
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
    except Exception:  # plain click formatting when rich formatting is unavailable
        exc.show()
