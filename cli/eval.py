"""`articleqa eval`: run a test set, print/write reports, compare with a previous run, enforce gates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from cli.common import check_mode, make_settings

EXIT_OK, EXIT_GATE, EXIT_INPUT = 0, 1, 2


def eval_command(
    testset: Annotated[Path, typer.Argument(help="Test set: .jsonl or .yaml (also RealTimeQA/SQuAD question files).",
                                            show_default=False)],
    corpus: Annotated[Path | None, typer.Option(
        "--corpus", help="Articles (file or folder) to ingest into a separate eval collection [default: the test "
        "set's corpus]. Without any corpus the store is evaluated as it is.")] = None,
    mode: Annotated[str | None, typer.Option(help="extractive (default) or llm.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N (selected) items.", min=1)] = None,
    tags: Annotated[str | None, typer.Option(help="Only items with any of these tags, comma-separated.")] = None,
    reference_date: Annotated[str | None, typer.Option(
        help="Date relative phrases count from, for items without their own (YYYY-MM-DD).")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write all metrics and every item here.")] = None,
    html_path: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")] = None,
    compare: Annotated[Path | None, typer.Option(help="A previous --json report: show metric deltas.")] = None,
    fail_under: Annotated[list[str] | None, typer.Option(
        "--fail-under", help="Gate: metric=value (repeatable). Exit 1 if any gate fails.")] = None,
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="OpenAI-compatible endpoint for --mode llm.")] = None,
    store: Annotated[Path | None, typer.Option(
        "--store", help="Embedded Chroma folder [env ARTICLEQA_STORE_PATH].")] = None,
    chroma_url: Annotated[str | None, typer.Option(
        "--chroma-url", help="Chroma server URL [env ARTICLEQA_CHROMA_URL].")] = None,
    collection: Annotated[str | None, typer.Option(
        "--collection", help="Collection to evaluate; with a corpus, the one to ingest it into [default eval-HASH]."
    )] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Evaluate answers, citations and retrieval on a test set, with reports and CI gates.

    The corpus is ingested into its own collection (eval-HASH, reused while unchanged), so your articles are
    untouched. Every question goes through the same chain as the chat (rewrite, retrieve, answer, check).

    Exit code: 0 done and every gate passed, 1 a --fail-under gate failed, 2 bad input or no store.

    Metrics: em, f1, contains, mc_accuracy, hit@1/3/4/5/10, mrr@10, recall@5/10, answer_in_top4, refusal_rate,
    false_refusal_rate, citation_precision, citation_recall, invalid_citations, answer_words, errors,
    latency_p50_STAGE, latency_p95_STAGE.

    Examples:

      articleqa eval samples/sample_testset.jsonl --corpus samples/articles

      articleqa eval qa.yaml --html report.html --json run.json --compare last.json

      articleqa eval ../shared/data/realtimeqa-dev/questions.jsonl --limit 20 --tags cnn

      articleqa eval samples/sample_testset.jsonl --fail-under contains=0.7 --fail-under invalid_citations=0
    """
    import datetime as dt

    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def fail_input(message: str) -> None:
        err.print(f"error: {message}", markup=False)
        raise typer.Exit(EXIT_INPUT)

    check_mode(mode)
    ref = None
    if reference_date:
        try:
            ref = dt.date.fromisoformat(reference_date)
        except ValueError:
            fail_input(f"--reference-date {reference_date!r}: expected a date like 2025-09-05")
    from evaluation.gates import parse_gates

    try:
        gates = parse_gates(fail_under or [])
    except ValueError as exc:
        fail_input(str(exc))
    if corpus is not None and not corpus.exists():
        fail_input(f"--corpus {corpus}: no such file or folder")

    from articleqa.store import StoreError
    from evaluation.metrics import HIT_KS, LOWER_IS_BETTER
    from evaluation.report import load_previous, print_report, write_html, write_json
    from evaluation.runner import EvalError, run_eval
    from evaluation.testset import TestSetError, load_testset

    known = {"em", "f1", "contains", "mc_accuracy", "answer_in_top4", "refusal_rate", "citation_precision",
             "citation_recall", "mrr@10", "recall@5", "recall@10", *LOWER_IS_BETTER, *(f"hit@{k}" for k in HIT_KS),
             "accuracy", "evidence_hit@4", "evidence_hit@10", "evidence_mrr@10", "evidence_found@10"}
    for g in gates:
        if g.metric not in known and not re.fullmatch(r"latency_p(50|95)_\w+", g.metric):
            fail_input(f"--fail-under: unknown metric {g.metric!r} (known: {', '.join(sorted(known))})")
    previous = None
    if compare is not None:
        try:
            previous = load_previous(compare)
        except ValueError as exc:
            fail_input(str(exc))
    try:
        ts = load_testset(testset)
    except TestSetError as exc:
        fail_input(str(exc))
    if corpus is not None:
        ts.corpus = corpus.resolve()

    settings = make_settings(store_path=store, chroma_url=chroma_url, llm_base_url=llm_url,
                             collection=collection if ts.corpus is None else None)
    tag_list = [t for t in re.split(r"[,\s]+", tags or "") if t] or None
    try:
        report = run_eval(ts, settings, mode=mode, limit=limit, tags=tag_list, reference_date=ref,
                          progress=not quiet, collection=collection if ts.corpus is not None else None)
    except (EvalError, StoreError) as exc:
        fail_input(str(exc))
    data = report.to_dict()
    print_report(data, previous)
    if json_path:
        write_json(data, json_path, previous)
        err.print(f"wrote {json_path}")
    if html_path:
        write_html(data, html_path, previous)
        err.print(f"wrote {html_path}")
    failed = [reason for g in gates if (reason := g.check(data["metrics"]))]
    for reason in failed:
        err.print(f"[red]gate failed:[/] {reason}")
    if gates and not failed:
        err.print(f"[green]all {len(gates)} gates passed[/]")
    raise typer.Exit(EXIT_GATE if failed else EXIT_OK)
