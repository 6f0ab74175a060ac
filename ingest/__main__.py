"""`python -m ingest PATH...` is `articleqa ingest PATH...`."""

import sys

from articleqa.cli import main

sys.argv = ["articleqa", "ingest", *sys.argv[1:]]
main()
