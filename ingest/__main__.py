"""`python -m ingest PATH...` is `articleqa ingest PATH...` (an entry point, like the console script)."""

import sys

from cli.main import main

main(["ingest", *sys.argv[1:]])
