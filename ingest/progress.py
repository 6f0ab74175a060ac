"""Runs an ingest with a rich progress bar (articles/s, passages/s) and one line per problem on stderr."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from articleqa.priority import PriorityThread
from articleqa.safe_text import one_line_safe, shorten
from articleqa.settings import Settings
from ingest.pipeline import Ingestor, IngestReport, ItemResult

SHOWN_CHARS = 300  # longest input name or reason printed on one error line


def run_with_progress(settings: Settings, inputs: list[str], quiet: bool = False, workers: int = 1,
                      writer: PriorityThread | None = None) -> IngestReport:
    """Ingest `inputs`, drawing progress on stderr unless `quiet`; errors are always printed.

    Args:
        workers: more than 1 embeds and stores on that many worker processes (ingest/parallel.py; needs a Chroma
            server), with this one bar and summary for all of them.
        writer: with one worker, the normal-priority thread for the store writes (see Ingestor).
    Returns:
        The run's report (its summary line is printed too).
    """
    console = Console(stderr=True, highlight=False)
    if workers > 1:
        from ingest.parallel import ParallelIngestor

        ingestor: Ingestor = ParallelIngestor(settings, workers)
    else:
        ingestor = Ingestor(settings, writer=writer)
    start = time.perf_counter()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]ingest[/]"),
        BarColumn(),
        TextColumn("{task.completed} articles · {task.fields[passages]} passages · {task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        console=console,
        disable=quiet,
        transient=True,
    )

    with progress:
        task = progress.add_task("ingest", total=None, passages=0, rate="", current="")

        def on_item(result: ItemResult, passages: int) -> None:
            elapsed = max(time.perf_counter() - start, 1e-6)
            done = progress.tasks[0].completed + 1
            rate = f"{done / elapsed:.1f} art/s, {passages / elapsed:.1f} pass/s"
            # One line each, of readable length: a 100 KB URL is named by its first few hundred characters.
            origin = escape(one_line_safe(shorten(result.origin, SHOWN_CHARS)))
            reason = escape(one_line_safe(shorten(result.reason, SHOWN_CHARS)))
            progress.update(task, advance=1, passages=passages, rate=rate, current=origin[-40:])
            if result.status == "failed":
                # soft_wrap: one input, one line, even when stderr is not a terminal (rich would wrap at 80)
                console.print(f"[red]error[/]: {origin}: {reason}", soft_wrap=True)
            elif not quiet and result.status == "duplicate":
                console.print(f"duplicate: {origin}: {reason}", soft_wrap=True)

        report = ingestor.run(inputs, on_item=on_item)
    if report.repaired:
        console.print(f"repaired {len(report.repaired)} article(s) left half-written by an interrupted run",
                      soft_wrap=True)
    console.print(report.summary(), soft_wrap=True)
    return report
