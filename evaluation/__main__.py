"""`python -m evaluation TESTSET ...` is `articleqa eval TESTSET ...` (an entry point, like the console script)."""

import sys

from cli.main import main

if __name__ == "__main__":
    main(["eval", *sys.argv[1:]])
