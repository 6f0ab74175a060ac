"""The command line package: every command group is registered (none hidden by a swallowed import error)."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app


def test_every_command_is_registered_with_help_and_examples():
    runner = CliRunner()
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert top.exit_code == 0
    for command in ("ingest", "articles", "ask", "migrate", "eval", "serve"):
        assert command in top.output
    for command in (["ingest"], ["articles", "list"], ["articles", "delete"], ["ask"], ["migrate"], ["eval"],
                    ["serve"]):
        got = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert got.exit_code == 0 and "Example" in got.output, command


def test_bad_mode_is_one_line_and_exit_2():
    got = CliRunner().invoke(app, ["ask", "Who?", "--mode", "poetry"])
    assert got.exit_code == 2 and "--mode 'poetry'" in got.output


def test_help_examples_are_shown_as_written():
    """The help is rendered as Markdown: an example's glob must not lose its '*' to emphasis."""
    import inspect

    import typer.main

    runner = CliRunner()
    group = typer.main.get_group(app)
    for name, command in group.commands.items():
        if not getattr(command, "callback", None):
            continue
        doc = inspect.getdoc(command.callback) or ""
        examples = [line.strip() for line in doc.split("Examples:", 1)[-1].splitlines()
                    if line.strip().startswith("articleqa ")] if "Examples:" in doc else []
        shown = runner.invoke(app, [name, "--help"], env={"COLUMNS": "250"}).output
        for example in examples:
            assert example.replace("\\*", "*") in shown, (name, example)
