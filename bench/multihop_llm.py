"""The LLM route for multi-article questions against the extractive one, on the same stratified MultiHop-RAG sample.

Three steps (see bench/README.md, MultiHop section):

    python bench/multihop_llm.py sample                      # bench/out/multihop-dev-b-s40.jsonl, 10 per type
    python bench/multihop_llm.py sample --seed 13 --skip bench/out/multihop-dev-b-s40.jsonl \
        --out bench/out/multihop-dev-b-s40b.jsonl            # a second, disjoint 40
    articleqa eval bench/out/multihop-dev-b-s40.jsonl --store S --json bench/out/mhllm-ext.json
    articleqa eval bench/out/multihop-dev-b-s40.jsonl --store S --mode llm --json bench/out/mhllm-llm.json
    python bench/multihop_llm.py compare bench/out/mhllm-ext.json bench/out/mhllm-llm.json
    python bench/multihop_llm.py tokens --store S            # prompt tokens of the LLM route (no generation)
    python bench/multihop_llm.py eval --store S --per-source 1 --json bench/out/mhllm-llm-1.json   # one per report
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.multihop_latency import percentile  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
SAMPLE = OUT / "multihop-dev-b-s40.jsonl"


def _rows(path: Path) -> tuple[dict, list[dict]]:
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return (lines[0], lines[1:]) if "testset" in lines[0] else ({}, lines)


def sample(questions: Path, per_type: int, seed: int, out: Path, skip: Path | None = None) -> None:
    """Write `per_type` random questions of each type (same header, so the same eval collection), leaving out
    those of `skip` (an earlier sample)."""
    header, rows = _rows(questions)
    taken = {r["qid"] for r in _rows(skip)[1]} if skip else set()
    rows = [r for r in rows if r["qid"] not in taken]
    rng = random.Random(seed)
    picked = []
    for kind in sorted({r["question_type"] for r in rows}):
        group = [r for r in rows if r["question_type"] == kind]
        picked += sorted(rng.sample(group, min(per_type, len(group))), key=lambda r: r["qid"])
    out.write_text("\n".join(json.dumps(x) for x in ([header] if header else []) + picked) + "\n", encoding="utf-8")
    print(f"{out}: {len(picked)} questions, {per_type} per type, seed {seed}")


def _kind(item: dict) -> str:
    return next((t for t in item.get("tags", []) if t != "multihop"), "?").removesuffix("_query")


def outcome(item: dict) -> str:
    """Who answered an item: "<mode> (LLM not asked)" (no LLM call: the extractive code refused, or no LLM mode),
    "llm answer", "llm insufficient" (the LLM's refusal), "<mode> fallback" (an LLM reply our code rejected), or an
    error."""
    got = item.get("got") or {}
    if not got:
        return "error"
    if "generate" not in item["scores"].get("timings", {}):
        return f"{got['mode']} (LLM not asked)"
    if got["mode"] == "llm":
        return "llm insufficient" if got["refused"] else "llm answer"
    return f"{got['mode']} fallback"


def _items(spec: str) -> list[dict]:
    """The items of one report, or of several pooled ("a.json+b.json")."""
    return [it for p in spec.split("+") for it in json.loads(Path(p).read_text())["items"]]


def compare(paths: list[str]) -> None:
    """Per type and overall: accuracy, null refusals, false refusals, total seconds p50/p95, for each report (or
    pool of reports joined by "+")."""
    print("| run | type | n | accuracy | null refused | false refusals | total p50 s | p95 s | LLM call p50 / p95 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        items = _items(path)
        name = "+".join(Path(p).stem for p in path.split("+"))
        by: dict[str, list[dict]] = defaultdict(list)
        for it in items:
            by[_kind(it)].append(it)
        by["all"] = items
        for kind, group in by.items():
            sc = [it["scores"] for it in group]
            acc = [s["accuracy"] for s in sc if s.get("accuracy") is not None]
            null = [float(s["refused"]) for s in sc if not s["answerable"]]
            false = [float(s["refused"]) for s in sc if s["answerable"]]
            total = [s["timings"]["total"] for s in sc if "total" in s.get("timings", {})]
            gen = [s["timings"]["generate"] for s in sc if "generate" in s.get("timings", {})]

            def f(v: list[float]) -> str:
                return f"{statistics.mean(v):.3f}" if v else "-"

            call = f"{percentile(gen, 0.5):.2f} / {percentile(gen, 0.95):.2f}" if gen else "-"
            print(f"| {name} | {kind} | {len(group)} | {f(acc)} | {f(null)} | {f(false)} | "
                  f"{percentile(total, 0.5):.2f} | {percentile(total, 0.95):.2f} | {call} |")
        print(f"{name}: outcomes {dict(Counter(outcome(it) for it in items))}")
    if len(paths) == 2:
        a, b = (_items(p) for p in paths)
        same = sum(1 for x, y in zip(a, b, strict=True)
                   if (x["got"] or {}).get("answer") == (y["got"] or {}).get("answer"))
        flips = Counter((x["scores"]["accuracy"], y["scores"]["accuracy"]) for x, y in zip(a, b, strict=True))
        print(f"identical answers: {same} of {len(a)}; accuracy (first, second) pairs: {dict(flips)}")


def run(store: Path, questions: Path, per_source: int, out: Path) -> None:
    """`articleqa eval --mode llm` on the sample with `per_source` sentences per report in the LLM's prompt."""
    from articleqa.settings import Settings, offline_environment

    offline_environment()
    from evaluation.report import write_json
    from evaluation.runner import run_eval
    from evaluation.testset import load_testset
    from qa.multihop_llm import MultiHopLLMComponent

    MultiHopLLMComponent.per_source = per_source
    report = run_eval(load_testset(questions), Settings().with_overrides(store_path=store), mode="llm", progress=False)
    write_json(report.to_dict(), out, None)
    print(f"wrote {out}")


def tokens(store: Path, questions: Path, per_source: int) -> None:
    """Prompt tokens of the LLM route for every sample question it would ask the LLM (as the server counts them)."""
    from articleqa.settings import Settings, offline_environment

    offline_environment()
    from bench.llm_reader import count_tokens
    from evaluation.runner import eval_collection_name
    from evaluation.testset import load_testset
    from qa.ask import Asker, Request
    from qa.generative import resolve_llm
    from qa.multihop import PlanRetrieval
    from qa.multihop_llm import answer_kind, messages, select_evidence

    testset = load_testset(questions)
    settings = Settings().with_overrides(store_path=store, collection=eval_collection_name(testset.corpus, Settings()))
    asker = Asker(settings)
    base = resolve_llm(settings)
    answerer = asker.answerers.multihop.answerer
    counts: dict[str, list[int]] = defaultdict(list)
    for it in testset.items:
        turn = asker.prepare(Request(it.question, mode="llm"))
        if turn.plan is None:
            continue
        retrieval = PlanRetrieval(turn.passages, turn.groups)
        result = answerer.run(turn.plan, retrieval)
        if result.refused:
            continue
        shown = select_evidence([r for _, r in answerer.ranked_evidence(turn.plan, retrieval)], result, per_source)
        n = count_tokens(base, messages(it.question, answer_kind(turn.plan), shown))
        counts[next((t for t in it.tags if t != "multihop"), "?")].append(n)
        counts["all"].append(n)
    for k, v in counts.items():
        print(f"{k}: {len(v)} prompts, tokens median {statistics.median(v):.0f}, min {min(v)}, max {max(v)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample", help="Write the stratified sample.")
    s.add_argument("--questions", type=Path, default=OUT / "multihop-dev-b.jsonl")
    s.add_argument("--per-type", type=int, default=10)
    s.add_argument("--seed", type=int, default=12)
    s.add_argument("--out", type=Path, default=SAMPLE)
    s.add_argument("--skip", type=Path, help="Leave out the questions of this earlier sample.")
    c = sub.add_parser("compare", help="Per-type table of `articleqa eval --json` reports.")
    c.add_argument("reports", nargs="+", help="--json reports; a+b pools two.")
    t = sub.add_parser("tokens", help="Prompt tokens of the LLM route on the sample.")
    t.add_argument("--store", type=Path, required=True)
    t.add_argument("--questions", type=Path, default=SAMPLE)
    t.add_argument("--per-source", type=int, default=2, help="Sentences per named report.")
    r = sub.add_parser("eval", help="The llm-mode evaluation with another number of sentences per report.")
    r.add_argument("--store", type=Path, required=True)
    r.add_argument("--questions", type=Path, default=SAMPLE)
    r.add_argument("--per-source", type=int, default=1, help="Sentences per named report.")
    r.add_argument("--json", type=Path, required=True, help="Where to write the report.")
    args = ap.parse_args()
    if args.cmd == "sample":
        sample(args.questions, args.per_type, args.seed, args.out, args.skip)
    elif args.cmd == "compare":
        compare(args.reports)
    elif args.cmd == "eval":
        run(args.store, args.questions, args.per_source, args.json)
    else:
        tokens(args.store, args.questions, args.per_source)


if __name__ == "__main__":
    main()
