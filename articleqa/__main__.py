"""`python -m articleqa ...` is the `articleqa` command (an entry point, like the console script)."""

from cli.entry import main

main()
