"""Split multihop-rag-dev into two random halves (stratified by question type) for development and a held-out check.

Writes the two question files under bench/out/ (gitignored: they hold dataset text), each pointing at the shared
corpus, so `articleqa eval` reuses the one ingest of the corpus for both.

Example:
    python bench/multihop_split.py                       # bench/out/multihop-dev-a.jsonl and -b.jsonl
    articleqa eval bench/out/multihop-dev-a.jsonl --store bench/out/multihop-corpus --json bench/out/mh-a.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "multihop-rag-dev" / "questions.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="?", type=Path, default=DEFAULT, help="MultiHop-RAG questions.jsonl.")
    parser.add_argument("--out", type=Path, default=Path("bench/out"), help="Folder for the two halves.")
    parser.add_argument("--seed", type=int, default=12, help="Shuffle seed (12 is the split bench/README.md reports).")
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(args.seed)
    halves: tuple[list[dict], list[dict]] = ([], [])
    for kind in sorted({r["question_type"] for r in rows}):
        group = [r for r in rows if r["question_type"] == kind]
        rng.shuffle(group)
        halves[0].extend(group[: len(group) // 2])
        halves[1].extend(group[len(group) // 2 :])
    corpus = (args.questions.parent / "corpus.jsonl").resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, half in zip("ab", halves, strict=True):
        path = args.out / f"multihop-dev-{name}.jsonl"
        header = {"testset": {"corpus": str(corpus), "description": f"multihop-rag-dev half {name}, seed {args.seed}"}}
        lines = [json.dumps(header)] + [json.dumps(r) for r in sorted(half, key=lambda r: r["qid"])]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{path}: {len(half)} questions")


if __name__ == "__main__":
    main()
