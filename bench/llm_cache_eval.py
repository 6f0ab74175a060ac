"""The real `--mode llm` evaluation with the LLM span reader's replies cached by prompt, and every read logged.

Runs `evaluation.run_eval` exactly as bench/eval_shared.py does, but the span reader's chat model answers from a
cache keyed by the exact prompt (messages and reply cap) before it asks the real model, so a prompt or selection
variant re-asks only the prompts it changed. Each read is logged (question, sentences shown, reply, accepted span,
seconds, cached or not) to `--log`, for classifying the misses (bench/llm_misses.py).

Example:

    nice -n 19 python bench/llm_cache_eval.py --store S --out OUT --sets realtimeqa-dev --timeout 300
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from articleqa.settings import Settings  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out"


class CachedChat:
    """A chat model whose `stream` answers from a JSON-lines cache keyed by the prompt, else asks the real one.

    When the reader asks for log-probabilities, the first reply token's alternatives come from a second cache
    (`<cache>.alts.jsonl`, keyed by the messages alone, as bench/llm_none_prob.py writes them)."""

    def __init__(self, real: Any, cache: Path, max_tokens: int):
        self.real, self.path, self.max_tokens = real, cache, max_tokens
        self.alts_path = cache.with_name(cache.stem + ".alts.jsonl")
        self.lock = threading.Lock()
        self.entries: dict[str, str] = {}
        self.alts: dict[str, dict[str, float]] = {}
        if cache.is_file():
            for line in cache.read_text().splitlines():
                row = json.loads(line)
                self.entries[row["key"]] = row["reply"]
        if self.alts_path.is_file():
            for line in self.alts_path.read_text().splitlines():
                row = json.loads(line)
                self.alts[row["key"]] = row["alts"]
        self.hits = self.misses = 0
        self.last_cached = False

    def key(self, prompt: list[tuple[str, str]]) -> str:
        return hashlib.sha256(json.dumps([self.max_tokens, prompt]).encode()).hexdigest()

    def stream(self, prompt: list[tuple[str, str]], **kwargs: Any) -> Iterator[Any]:
        from langchain_core.messages import AIMessageChunk

        from qa.llm_reader import first_token_alternatives

        k = self.key(prompt)
        akey = hashlib.sha256(json.dumps(prompt).encode()).hexdigest()
        wants_alts = bool(kwargs.get("logprobs"))
        if k in self.entries and (not wants_alts or akey in self.alts):
            self.hits += 1
            self.last_cached = True
            meta = {}
            if wants_alts:
                meta = {"logprobs": {"content": [{"top_logprobs": [
                    {"token": t, "logprob": math.log(max(p, 1e-300))} for t, p in self.alts[akey].items()]}]}}
            yield AIMessageChunk(content=self.entries[k], response_metadata=meta)
            return
        self.misses += 1
        self.last_cached = False
        chunks = list(self.real().stream(prompt, **kwargs))
        reply = "".join(str(getattr(c, "content", c)) for c in chunks)
        alts = next((a for c in chunks if (a := first_token_alternatives(getattr(c, "response_metadata", None)))),
                    None)
        with self.lock:
            self.entries[k] = reply
            with self.path.open("a") as f:
                f.write(json.dumps({"key": k, "reply": reply}) + "\n")
            if alts is not None:
                self.alts[akey] = alts
                with self.alts_path.open("a") as f:
                    f.write(json.dumps({"key": akey, "alts": alts}) + "\n")
        yield from chunks


def install(cache: Path, log: dict[str, Path]) -> None:
    """Patch the span reader: its model answers from `cache`, and every read is appended to `log["path"]`."""
    import qa.llm_reader as lr

    made: dict[str, Any] = {}

    def capped(settings: Settings, max_tokens: int) -> CachedChat:
        from qa.generative import capped_chat_model

        def real() -> Any:
            if "m" not in made:
                made["m"] = capped_chat_model(settings, max_tokens)
            return made["m"]

        return CachedChat(real, cache, max_tokens)

    lr.capped_chat_model = capped  # type: ignore[assignment]
    from qa.extractive import ExtractiveAnswerer

    gate_run = ExtractiveAnswerer.run
    last: dict[str, Any] = {}

    def gate(self: Any, question: str, passages: list) -> Any:
        draft = gate_run(self, question, passages)
        last.clear()
        last.update(gate_score=draft.score, gate_refused=draft.refused, gate_short=draft.short_answer,
                    gate_sentences=[[t, n] for t, n in draft.sentences],
                    dates=[p.date for p in passages])
        return draft

    ExtractiveAnswerer.run = gate  # type: ignore[method-assign]
    original = lr.LLMSpanReader.run

    def run(self: Any, question: str, sentences: list, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        row: dict[str, Any] = {"question": question, "args": [str(a) for a in args], **last,
                               "kwargs": {k: str(v) for k, v in kwargs.items()},
                               "evidence": [[s.text, s.passage, round(s.fit, 4)] for s in sentences],
                               "n_shown": self.shown}
        try:
            read = original(self, question, sentences, *args, **kwargs)
        except Exception as exc:
            row.update(error=f"{type(exc).__name__}: {exc}", seconds=round(time.perf_counter() - t, 2))
            with log["path"].open("a") as f:
                f.write(json.dumps(row) + "\n")
            raise
        row.update(none_prob=read.none_prob)
        row.update(prompt=read.prompt[-1][1], reply=read.reply, short=read.short.text if read.short else None,
                   short_sentence=read.short.sentence if read.short else None,
                   seconds=round(time.perf_counter() - t, 2), cached=self.model().last_cached)
        with log["path"].open("a") as f:
            f.write(json.dumps(row) + "\n")
        return read

    lr.LLMSpanReader.run = run  # type: ignore[method-assign]


def main() -> None:
    from articleqa.settings import offline_environment

    offline_environment()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--sets", nargs="+", default=["realtimeqa-dev"])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="Folder for the reports and the read log.")
    ap.add_argument("--cache", type=Path, default=OUT / "llm_span_cache.jsonl", help="Reply cache (JSON lines).")
    ap.add_argument("--timeout", type=float, default=None, help="llm_timeout for this run (default: settings).")
    ap.add_argument("--patch", nargs="*", default=[], metavar="NAME=JSON",
                    help="Set a module constant of qa.llm_reader for this run (a variant), e.g. SYSTEM='\"...\"'; "
                    "settings (llm.span_sentences, ...) go by their ARTICLEQA_LLM_* variables.")
    args = ap.parse_args()

    import qa.llm_reader as lr
    from evaluation.report import print_report, write_json
    from evaluation.runner import run_eval
    from evaluation.testset import load_testset

    for p in args.patch:
        name, _, value = p.partition("=")
        if not hasattr(lr, name):
            raise SystemExit(f"--patch {p}: qa.llm_reader has no {name}")
        setattr(lr, name, json.loads(value))
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {"store_path": args.store}
    if args.timeout:
        overrides["llm_timeout"] = args.timeout
    settings = Settings().with_overrides(**overrides)
    log: dict[str, Path] = {}
    install(args.cache, log)
    for name in args.sets:
        log["path"] = args.out / f"{name}.reads.jsonl"
        log["path"].unlink(missing_ok=True)
        testset = load_testset(args.data / name / "questions.jsonl")
        report = run_eval(testset, settings, mode="llm", limit=args.limit, progress=False)
        data = report.to_dict()
        print_report(data, None)
        write_json(data, args.out / f"{name}.json", None)
        m = data["metrics"]
        keys = ("direct_contains", "contains", "f1", "em", "answer_words", "mc_accuracy", "refusal_rate",
                "false_refusal_rate", "citation_precision", "invalid_citations")
        print(name, json.dumps({k: m.get(k) for k in keys}))


if __name__ == "__main__":
    main()
