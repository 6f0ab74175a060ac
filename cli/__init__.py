"""The `articleqa` command line: one module per command group, on top of every other package."""
