"""Time to first token and total time of LLM answers on the local server, through our chain and the bare client."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from articleqa.models import Passage  # noqa: E402
from articleqa.settings import Settings  # noqa: E402

SEED = REPO / "samples" / "articles" / "xi-kim-beijing-2025-09-04.txt"
TITLE = "China's Xi seeks closer coordination with North Korea in meeting with Kim"
QUESTION = "How did Kim travel to Beijing, and who came with him?"

EXAMPLE = """example:
  python bench/llm_first_token.py --runs 5                      # SmolLM2-135M (packaged), 5 passages
  python bench/llm_first_token.py --model qwen2.5-coder-1.5b --runs 3
  python bench/llm_first_token.py --gguf ~/models/my.gguf --passages 3 --max-tokens 64"""


def seed_passages(count: int) -> list[Passage]:
    """The seed article's longest paragraphs as passages (about retrieval-sized, ~300-700 characters)."""
    paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 120]
    return [
        Passage(id=f"seed-{i}", article_id="seed", text=t, position=i, start=0, end=len(t), title=TITLE,
                source="Japan Today", date="2025-09-05")
        for i, t in enumerate(paragraphs[:count])
    ]


def timed(stream: Callable[[], Iterator[str]]) -> tuple[float, float, int]:
    """(seconds to first non-empty delta, total seconds, number of deltas) of one streamed call."""
    t0 = time.perf_counter()
    first = None
    count = 0
    for delta in stream():
        if delta and first is None:
            first = time.perf_counter() - t0
        count += bool(delta)
    total = time.perf_counter() - t0
    return (first if first is not None else total), total, count


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (with few runs this is the maximum, which is the honest answer)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    from articleqa.settings import offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLE, formatter_class=argparse.RawTextHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", default="smollm2", help="packaged model: smollm2 (default) or qwen2.5-coder-1.5b")
    source.add_argument("--gguf", type=Path, help="any GGUF file instead of a packaged model")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per path (default 5)")
    parser.add_argument("--passages", type=int, default=5, help="seed passages in the prompt (default 5)")
    parser.add_argument("--max-tokens", type=int, default=128, help="generation cap per answer (default 128)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--context", type=int, default=4096)
    args = parser.parse_args(argv)

    from qa.generative import LLMAnswerer, make_chat_model
    from qa.local_llm import LocalLLMServer, packaged_model_path

    gguf = args.gguf or packaged_model_path(args.model)
    passages = seed_passages(args.passages)
    settings = Settings(llm_max_tokens=args.max_tokens, llm_context=args.context, llm_timeout=600)
    t = time.perf_counter()
    with LocalLLMServer(gguf, context=args.context, threads=args.threads) as server:
        load = time.perf_counter() - t
        chat = make_chat_model(settings, server.base_url)
        # llama.cpp would reuse the KV cache of the identical prompt and skip reading it; a new question re-reads
        # its passages, so measure that (same for both paths).
        chat.extra_body = {"cache_prompt": False}
        answerer = LLMAnswerer(settings, chat)
        messages = answerer.messages(QUESTION, passages)
        prompt_chars = sum(len(m.content) for m in messages)

        def ours() -> Iterator[str]:
            return answerer.stream(QUESTION, passages)

        def raw() -> Iterator[str]:
            return (chunk.content for chunk in chat.stream(messages))

        results: dict[str, list[tuple[float, float, int]]] = {"chain": [], "raw": []}
        timed(ours)  # warm-up: first request pays one-off allocations
        for _ in range(args.runs):
            for name, fn in (("chain", ours), ("raw", raw)):
                results[name].append(timed(fn))
        port = server.port

    print(f"model: {gguf.name}  load: {load:.2f}s  threads: {server.threads}  (server on port {port} stopped)")
    print(f"prompt: {len(passages)} passages, {prompt_chars} chars, max_tokens {args.max_tokens}, runs {args.runs}")
    print(f"{'path':<6} {'ttft median':>12} {'ttft p95':>9} {'total median':>13} {'total p95':>10} {'deltas':>7}")
    for name, rows in results.items():
        ttft, total, deltas = zip(*rows, strict=True)
        print(f"{name:<6} {statistics.median(ttft):>11.2f}s {p95(list(ttft)):>8.2f}s "
              f"{statistics.median(total):>12.2f}s {p95(list(total)):>9.2f}s {statistics.median(deltas):>7.0f}")
    ratio = statistics.median(r[0] for r in results["chain"]) / statistics.median(r[0] for r in results["raw"])
    print(f"overhead (chain ttft / raw ttft): {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
