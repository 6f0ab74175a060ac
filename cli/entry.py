"""The `articleqa` console entry point: a plain `ask` goes straight to the warm answer process, the rest to Typer.

Why: an `articleqa ask` answered by the daemon spends 0.27 s of CPU importing Typer and pydantic before a 0.01-0.2 s
answer, and question loops on a 2-core machine are mostly that. The fast path (cli/fast_ask.py) needs neither; it
handles only what it can prove it handles exactly as the full command would, and defers everything else.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Answer a plain `ask` through the running daemon or chat when possible, else run the full command line."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["ask"]:
        from cli.fast_ask import try_answer

        code = try_answer(args[1:])
        if code is not None:
            sys.exit(code)
    from cli.main import main as full

    full(args)
