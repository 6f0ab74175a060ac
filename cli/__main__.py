"""`python -m cli ...` is the `articleqa` command."""

from cli.main import main

main()
