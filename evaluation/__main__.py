"""`python -m evaluation TESTSET ...`: the same as `articleqa eval`."""

import typer

from evaluation.cli import eval_command


def main() -> None:
    """Console entry point."""
    typer.run(eval_command)


if __name__ == "__main__":
    main()
