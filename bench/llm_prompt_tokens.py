"""Prompt tokens of the LLM span reader's logged prompts, counted by the model's own tokenizer.

Reads the `<set>.reads.jsonl` logs that bench/llm_cache_eval.py writes and asks the configured LLM server (the
in-process llama.cpp server on the packaged model when none is set) to tokenize each prompt: system rules plus the
user message, chat template markup not included.

Example:

    python bench/llm_prompt_tokens.py OUT/realtimeqa-dev.reads.jsonl OUT/squad2-dev.reads.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", type=Path, help="reads.jsonl files from bench/llm_cache_eval.py")
    args = ap.parse_args()

    from articleqa.settings import Settings, offline_environment

    offline_environment()
    from bench.llm_reader import count_tokens
    from qa.generative import resolve_llm
    from qa.llm_reader import SYSTEM

    base = resolve_llm(Settings())
    for log in args.logs:
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        counts = sorted(count_tokens(base, [("system", SYSTEM), ("human", r["prompt"])]) for r in rows if "prompt" in r)
        if not counts:
            print(f"{log}: no prompts")
            continue
        seconds = sorted(r["seconds"] for r in rows if "prompt" in r and not r.get("cached"))
        timing = (f"; uncached calls {len(seconds)}: median {statistics.median(seconds):.1f} s, "
                  f"p95 {seconds[int(0.95 * (len(seconds) - 1))]:.1f} s") if seconds else ""
        print(f"{log}: {len(counts)} prompts, median {statistics.median(counts):.0f} tokens "
              f"(min {counts[0]}, p95 {counts[int(0.95 * (len(counts) - 1))]}, max {counts[-1]}){timing}")


if __name__ == "__main__":
    main()
