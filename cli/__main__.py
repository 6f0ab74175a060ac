"""`python -m cli ...` is the `articleqa` command."""

from cli.entry import main

main()
