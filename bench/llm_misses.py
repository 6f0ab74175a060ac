"""Why the LLM span reader's direct answer misses the gold: classify every open question of a llm_cache_eval run.

Reads `<out>/<set>.json` (the eval report) and `<out>/<set>.reads.jsonl` (the reads bench/llm_cache_eval.py logged)
and puts each scored open question in one class: right (direct answer contains the gold); refused before the LLM;
LLM error or timeout; gold in none of the sentences shown (and whether it was in the top-4 passages); reply NONE;
reply not a verbatim span; reply cut at the span token cap; a wrong span picked although the gold was shown.

Example:

    python bench/llm_misses.py --out OUT --set realtimeqa-dev
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation.metrics import contains_answer  # noqa: E402


def classify(item: dict, read: dict | None) -> str:
    """One class for one scored open item (see the module docstring)."""
    s, got = item["scores"], item["got"] or {}
    if s.get("direct_contains"):
        return "right" if read and read.get("short") else "right (extractive fallback)"
    if got.get("refused"):
        return "refused (no LLM call)" if read is None else "refused after the LLM"
    if read is None:
        return "no LLM call (record/multi-article route)"
    if "error" in read:
        return "LLM error/timeout"
    shown = " ".join(t for t, _, _ in read["evidence"][:read.get("n_shown", 5)])
    if not contains_answer(shown, item["answers"]):
        return "gold not in the shown sentences" + (" (in top-4 passages)" if s.get("answer_in_top4") else "")
    reply = (read.get("reply") or "").strip()
    if reply.upper().startswith("NONE"):
        return "reply NONE, gold shown"
    if not read.get("short"):
        return "reply not a verbatim span, gold shown"
    if len(reply.split()) >= 16:
        return "long reply (cap?), gold shown"
    return "wrong span, gold shown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", default="realtimeqa-dev")
    ap.add_argument("--show", action="store_true", help="Print every miss with its reply and gold.")
    args = ap.parse_args()
    report = json.loads((args.out / f"{args.set}.json").read_text())
    reads = [json.loads(x) for x in (args.out / f"{args.set}.reads.jsonl").read_text().splitlines()]
    by_q: dict[str, list[dict]] = collections.defaultdict(list)
    for r in reads:
        by_q[r["question"]].append(r)
    counts: collections.Counter[str] = collections.Counter()
    for item in report["items"]:
        got = item["got"] or {}
        queue = by_q.get(got.get("rewritten_query") or "", [])
        read = queue.pop(0) if queue else None
        if item["scores"].get("direct_contains") is None:
            continue
        c = classify(item, read)
        counts[c] += 1
        if args.show and not c.startswith("right"):
            print(f"[{c}] {item['question']}\n   gold={item['answers']} reply={read and read.get('reply')!r} "
                  f"direct={got.get('short_answer')!r}")
    total = sum(counts.values())
    for k, v in counts.most_common():
        print(f"{v:4d}  {v / total:.3f}  {k}")
    print(f"{total:4d}  scored open questions")


if __name__ == "__main__":
    main()
