"""Evaluate articleqa on the shared RealTimeQA and SQuAD 2.0 dev sets; JSON/HTML reports go to bench/out/.

Example:

    python bench/eval_shared.py                       # both sets, extractive mode
    python bench/eval_shared.py --sets realtimeqa-dev --limit 20 --compare bench/out/realtimeqa-dev.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from articleqa.settings import Settings  # noqa: E402
from evaluation.report import load_previous, print_report, write_html, write_json  # noqa: E402
from evaluation.runner import run_eval  # noqa: E402
from evaluation.testset import load_testset  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out"
SETS = ("realtimeqa-dev", "squad2-dev")
ROW = ("hit@1", "hit@4", "hit@10", "mrr@10", "answer_in_top4", "mc_accuracy", "contains", "f1", "refusal_rate",
       "false_refusal_rate", "citation_precision", "invalid_citations")


def main() -> None:
    """Run each selected set and print its headline row (markdown, to paste beside the anchors)."""
    from articleqa.settings import offline_environment

    offline_environment()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="Folder holding the shared sets (default: %(default)s).")
    ap.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="Which sets to run.")
    ap.add_argument("--mode", choices=("extractive", "llm"), default=None, help="Answerer (default: settings).")
    ap.add_argument("--limit", type=int, default=None, help="Only the first N questions of each set.")
    ap.add_argument("--store", type=Path, default=OUT / "store",
                    help="Embedded Chroma folder for the eval collections (default: %(default)s).")
    ap.add_argument("--out", type=Path, default=OUT, help="Where reports are written (default: %(default)s).")
    ap.add_argument("--compare", action="store_true", help="Show deltas against the previous reports in --out.")
    ap.add_argument("--quiet", action="store_true", help="No progress bars.")
    args = ap.parse_args()

    settings = Settings().with_overrides(store_path=args.store)
    rows = []
    for name in args.sets:
        testset = load_testset(args.data / name / "questions.jsonl")
        json_path, html_path = args.out / f"{name}.json", args.out / f"{name}.html"
        previous = load_previous(json_path) if args.compare and json_path.is_file() else None
        report = run_eval(testset, settings, mode=args.mode, limit=args.limit, progress=not args.quiet)
        data = report.to_dict()
        print_report(data, previous)
        write_json(data, json_path, previous)
        write_html(data, html_path, previous)
        m = data["metrics"]
        cells = " | ".join("-" if m.get(k) is None else f"{m[k]:.3f}" if k != "invalid_citations" else f"{m[k]:.0f}"
                           for k in ROW)
        rows.append(f"| articleqa {data['settings']['mode']} on {name} (n={data['items_total']}) | {cells} |")
        print(f"wrote {json_path} and {html_path}", file=sys.stderr)
    print("| system | " + " | ".join(ROW) + " |")
    print("|---" * (len(ROW) + 1) + "|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
