"""Terminal rendering of an answer: the text, then numbered sources with their quotes."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape as _markup_escape

from articleqa.models import Answer
from articleqa.safe_text import terminal_safe


def escape(text: object) -> str:
    """Stored text is untrusted: no rich markup and no control characters (ESC, NUL, ...) reach the terminal."""
    return _markup_escape(terminal_safe(str(text)))


def print_answer(answer: Answer, console: Console | None = None) -> None:
    """Print answer text, notices and numbered sources (title, source, date, quote)."""
    console = console or Console(highlight=False)
    for notice in answer.notices:
        console.print(f"[yellow]note:[/] {escape(notice)}")
    if answer.rewritten_query and answer.rewritten_query != answer.question:
        console.print(f"[dim]searched for: {escape(answer.rewritten_query)}[/]")
    first, sep, rest = answer.answer.partition("\n")
    if answer.short_answer and first.startswith(answer.short_answer):  # the direct answer leads, in bold
        console.print(f"[bold]{escape(first)}[/]" + (f"\n{escape(rest)}" if sep else ""))
    else:
        console.print(escape(answer.answer))
    if answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            meta = ", ".join(x for x in (c.source, c.date) if x)
            console.print(f"[{c.number}] {escape(c.title or c.article_id)}" + (f" ({escape(meta)})" if meta else ""))
            if c.record_field:
                console.print(f"    {c.record_field}: {escape(c.quote)} (from the article's record)")
            else:
                console.print(f"    “{escape(c.quote)}”")
            if c.url:
                console.print(f"    {escape(c.url)}")
    elif answer.refused and answer.passages:
        console.print("\n[bold]Nearest passages[/]")
        for i, p in enumerate(answer.passages[:3], 1):
            console.print(
                f"{i}. {escape(p.title or p.article_id)} ({escape(p.source)}, {escape(p.date)}): "
                f"{escape(p.text[:200])}…"
            )
    for s in answer.unsupported:
        console.print(f"[red]removed (no passage supports it):[/] {escape(s)}")
