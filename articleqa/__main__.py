"""`python -m articleqa ...` is the `articleqa` command."""

from articleqa.cli import main

main()
