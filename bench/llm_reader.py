"""The LLM span reader against today's free generation, on a small sample of RealTimeQA questions.

For each question: the span reader's prompt size (tokens, counted by the llama.cpp server), its reply, whether the
reply was accepted (a verbatim span of a candidate sentence), its time, and whether the direct answer contains the
gold answer; for the first --generate questions also the free-generation path (`llm_answer=generate`): its raw
output, what the citation checker kept and why it refused. Writes bench/out/llm_reader.json.

Example:

    python bench/llm_reader.py --store bench/out/reader-store --limit 20 --generate 6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from articleqa.settings import Settings  # noqa: E402
from evaluation.metrics import contains_answer, token_f1  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out"


def count_tokens(base_url: str, messages: list[tuple[str, str]]) -> int:
    """Prompt tokens as the server's tokenizer counts them (chat template markup not included)."""
    import httpx

    text = "\n".join(m for _, m in messages)
    r = httpx.post(base_url.removesuffix("/v1") + "/tokenize", json={"content": text}, timeout=30)
    return len(r.json().get("tokens", []))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="Store with the realtimeqa-dev eval collection.")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int, default=20, help="Questions for the span reader.")
    ap.add_argument("--generate", type=int, default=6, help="Of those, how many also go through free generation.")
    ap.add_argument("--timeout", type=float, default=300.0, help="Seconds per LLM call (default %(default)s).")
    ap.add_argument("--out", type=Path, default=OUT / "llm_reader.json")
    args = ap.parse_args()

    from evaluation.runner import eval_collection_name
    from evaluation.testset import load_testset
    from qa.ask import Asker, Request
    from qa.generative import LLMAnswerer, LLMUnavailable, resolve_llm
    from qa.llm_reader import LLMSpanReader

    testset = load_testset(args.data / "realtimeqa-dev" / "questions.jsonl")
    settings = Settings().with_overrides(store_path=args.store, llm_timeout=args.timeout,
                                         collection=eval_collection_name(testset.corpus, Settings()))
    asker = Asker(settings)
    items = [i for i in testset.items if i.scores_open][: args.limit]
    base = resolve_llm(settings)
    reader = LLMSpanReader(settings)
    rows, drafts = [], []
    # Span reads first, then the free generations: a generation that outlives its timeout keeps llama.cpp's one
    # slot busy, and every request queued behind it would time out too.
    for item in items:
        req = Request(item.question, reference_date=item.reference_date)
        query, retrieval, _ = asker.retrieve(req, asker.rewrite(req))
        draft = asker.answerers.extractive.run(query, retrieval.passages)
        row = {"id": item.id, "question": item.question, "gold": item.answers, "refused": draft.refused}
        if not draft.refused:
            t = time.perf_counter()
            try:
                read = reader.run(query, draft.evidence)
                row["reply"], row["accepted"] = read.reply, read.short is not None
                row["prompt_tokens"] = count_tokens(base, read.prompt)
            except LLMUnavailable as exc:
                read = None
                row["reply"], row["accepted"] = f"unavailable: {exc}", False
            row["span_seconds"] = round(time.perf_counter() - t, 2)
            learned = draft.short_answer or draft.sentences[0][0]
            direct = read.short.text if read is not None and read.short is not None else learned
            row.update(direct=direct, direct_contains=contains_answer(direct, item.answers),
                       direct_f1=round(token_f1(direct, item.answers), 3), learned_direct=learned,
                       learned_contains=contains_answer(learned, item.answers))
        rows.append(row)
        drafts.append((item, retrieval.passages))
        print(json.dumps(row), file=sys.stderr)
    gen = LLMAnswerer(settings)
    for row, (item, passages) in list(zip(rows, drafts, strict=True))[: args.generate]:
        t = time.perf_counter()
        try:
            raw = gen.run(item.question, passages)
        except LLMUnavailable as exc:
            raw = f"unavailable: {exc}"
        checked = asker.checker.run(raw, passages)
        row["generate"] = {
            "seconds": round(time.perf_counter() - t, 2), "raw": raw,
            "prompt_tokens": count_tokens(base, [(m.type, m.content) for m in gen.messages(item.question, passages)]),
            "kept_citations": len(checked.citations), "unsupported": checked.unsupported,
            "contains": contains_answer(raw, item.answers),
        }
        print(json.dumps(row["generate"]), file=sys.stderr)
    answered = [r for r in rows if "reply" in r]
    summary = {
        "questions": len(rows), "answered": len(answered),
        "accepted": sum(r["accepted"] for r in answered),
        "span_seconds_median": statistics.median(r["span_seconds"] for r in answered) if answered else None,
        "prompt_tokens_median": statistics.median(tokens) if (tokens := [r["prompt_tokens"] for r in answered
                                                                          if "prompt_tokens" in r]) else None,
        "llm_direct_contains": sum(r["direct_contains"] for r in answered) / max(1, len(rows)),
        "learned_direct_contains": sum(r["learned_contains"] for r in answered) / max(1, len(rows)),
        "generate": {
            "n": sum(1 for r in rows if "generate" in r),
            "refused_by_checker": sum(1 for r in rows if "generate" in r and not r["generate"]["kept_citations"]),
            "seconds_median": statistics.median(r["generate"]["seconds"] for r in rows if "generate" in r)
            if any("generate" in r for r in rows) else None,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
