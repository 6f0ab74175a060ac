"""How sure is the LLM span reader? Its first-token probabilities on each logged prompt, as an answerability score.

For every read that bench/llm_cache_eval.py logged (`<set>.reads.jsonl`), asks the configured LLM (the packaged model
in-process when none is set) for one reply token with its top log-probabilities, and records the probability mass
of the refusal line's first token ("NONE") and of the token the model would write first. Then replays the eval's
items (`<set>.json` in the same folder) refusing an LLM-read answer when P(NONE) reaches each threshold, and reports
refusal and false-refusal rates per threshold. Probes are cached in --cache (one line per prompt).

Example:

    python bench/llm_none_prob.py --out OUT --sets realtimeqa-dev squad2-dev   # OUT from bench/llm_cache_eval.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def probe(client, prompt: list[tuple[str, str]]) -> dict[str, float]:
    """The first reply token's top alternatives as {token: probability} (temperature 0, one token)."""
    from qa.llm_reader import TOP_LOGPROBS, first_token_alternatives

    resp = client.chat.completions.create(
        model="local", messages=[{"role": r if r != "human" else "user", "content": c} for r, c in prompt],
        max_tokens=1, temperature=0, logprobs=True, top_logprobs=TOP_LOGPROBS)
    return first_token_alternatives({"logprobs": resp.choices[0].logprobs.model_dump()}) or {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="Folder of a llm_cache_eval.py run.")
    ap.add_argument("--sets", nargs="+", default=["realtimeqa-dev", "squad2-dev"])
    ap.add_argument("--cache", type=Path, default=None, help="Probe cache (default: OUT/none_prob.jsonl).")
    args = ap.parse_args()

    from articleqa.settings import Settings, offline_environment

    offline_environment()
    import openai

    from qa.generative import resolve_llm
    from qa.llm_reader import SYSTEM, none_mass

    cache_path = args.cache or args.out / "none_prob.jsonl"
    cache = {}
    if cache_path.is_file():
        for line in cache_path.read_text().splitlines():
            row = json.loads(line)
            cache[row["key"]] = row["alts"]
    client = openai.OpenAI(base_url=resolve_llm(Settings()), api_key="local", timeout=300)
    from rich.progress import track

    for name in args.sets:
        reads = [json.loads(line) for line in (args.out / f"{name}.reads.jsonl").read_text().splitlines()]
        pnone: dict[str, float] = {}
        for row in track(reads, description=f"probing {name}"):
            if "prompt" not in row:
                continue
            prompt = [("system", SYSTEM), ("human", row["prompt"])]
            key = hashlib.sha256(json.dumps(prompt).encode()).hexdigest()
            if key not in cache:
                cache[key] = probe(client, prompt)
                with cache_path.open("a") as f:
                    f.write(json.dumps({"key": key, "alts": cache[key]}) + "\n")
            pnone[row["question"]] = none_mass(cache[key])
        report(name, json.loads((args.out / f"{name}.json").read_text())["items"], pnone, reads)


def _quantiles(ps: list[float]) -> str:
    ps = sorted(ps)
    return " ".join(f"p{int(f * 100)} {ps[min(len(ps) - 1, int(f * len(ps)))]:.3f}" for f in (0.25, 0.5, 0.75, 0.9))


def report(name: str, items: list[dict], pnone: dict[str, float], reads: list[dict]) -> None:
    """Refusal / false refusal when an answer read by the LLM is refused at P(NONE) >= t, for a grid of t."""
    def p_of(it: dict) -> float | None:
        got = it["got"] or {}
        q = got.get("rewritten_query") or it["question"]
        return pnone.get(q, pnone.get(it["question"]))

    def refused(it: dict, t: float = 2.0) -> bool:
        p = p_of(it)
        return bool((it["got"] or {}).get("refused")) or (p is not None and p >= t)

    ans = [it for it in items if it["answerable"]]
    un = [it for it in items if not it["answerable"]]
    print(f"\n{name}: {len(ans)} answerable, {len(un)} unanswerable; probed {len(pnone)} of {len(reads)} reads")
    for label, part in (("answerable", ans), ("unanswerable", un)):
        ps = [p for it in part if not refused(it) and (p := p_of(it)) is not None]
        if ps:
            print(f"  P(NONE) {label} (not refused, n={len(ps)}): {_quantiles(ps)}")
    print("  threshold  refusal  false_refusal")
    for t in (2.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002):
        rr = sum(refused(it, t) for it in un) / len(un) if un else float("nan")
        fr = sum(refused(it, t) for it in ans) / len(ans)
        print(f"  {t:9.3f}  {rr:7.3f}  {fr:13.3f}")

if __name__ == "__main__":
    main()
