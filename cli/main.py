"""The `articleqa` Typer app: registers every command group; heavy imports happen inside the commands."""

from __future__ import annotations

import sys

import typer

from cli.articles import articles_app
from cli.ask import ask_command
from cli.daemon import answer_daemon_command
from cli.embed_server import embed_server_command
from cli.eval import eval_command
from cli.ingest import ingest_command
from cli.migrate import migrate_command
from cli.serve import serve_command

app = typer.Typer(
    name="articleqa",
    help="Question answering over news articles, with every claim cited to its passage.\n\n"
    'Examples:\n\n  articleqa ingest samples/articles/\n\n  articleqa ask "Who accompanied Kim?"\n\n  articleqa serve'
    "\n\n  articleqa embed-server --port 8081"
    "\n\n  articleqa migrate --from-store chroma_db --to-url http://127.0.0.1:8000"
    "\n\nAdd --debug to any command to see the traceback of an unexpected error.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.command("ingest")(ingest_command)
app.add_typer(articles_app, name="articles")
app.command("ask")(ask_command)
app.command("migrate")(migrate_command)
app.command("eval")(eval_command)
app.command("serve")(serve_command)
app.command("embed-server")(embed_server_command)
app.command("answer-daemon")(answer_daemon_command)


def main(argv: list[str] | None = None) -> None:
    """Console entry point; `argv` (without the program name) defaults to the command line. Every failure is one
    line (valid JSON under --json); `--debug` shows tracebacks (cli/guard.py)."""
    from articleqa.settings import offline_environment
    from cli.guard import run

    offline_environment()
    sys.exit(run(app, argv))


if __name__ == "__main__":
    main()
