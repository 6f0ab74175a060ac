"""Chunking time for one single-line input of 10 KB, 100 KB, 1 MB and 10 MB (target: linear, < 2 s per MB).

    python bench/chunk_bench.py [--spacy]

Three shapes of line: short sentences ("X3 ran. " repeated, the quadratic case of issue 15), news-like sentences with
abbreviations and numbers, and words with no sentence end at all (capped at max_passage_chars). Medians of
`--repeat` runs. `--spacy` also times spaCy's rule-based sentencizer on the same lines (up to its 1,000,000-character
limit) for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from articleqa.models import Article  # noqa: E402
from ingest.chunk import chunk  # noqa: E402

SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000, "10 MB": 10_000_000}
NEWS = ("Mr. Lee said on Monday the U.S. plan would cost $3.5 million, up 12% from Jan. 4. "
        "\"It is a good deal,\" he told reporters at 10:30 a.m. in Washington D.C. ")
SHAPES = {
    "short sentences": lambda i: f"X{i % 10} ran. ",
    "news sentences": lambda i: NEWS,
    "no sentence end": lambda i: "word ",
}


def line(shape: str, size: int) -> str:
    piece = SHAPES[shape]
    parts, n, i = [], 0, 0
    while n < size:
        p = piece(i)
        parts.append(p)
        n += len(p)
        i += 1
    return "".join(parts)[:size]


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--spacy", action="store_true", help="also time spaCy's sentencizer")
    a = ap.parse_args()
    nlp = None
    if a.spacy:
        import spacy

        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
    print("| input | size | chunk s | s per MB | passages | longest | spaCy sentencizer s |")
    print("|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        for label, size in SIZES.items():
            text = line(shape, size)
            article = Article(id="bench", text=text)
            passages = chunk(article)
            secs = median_seconds(lambda article=article: chunk(article), a.repeat if size < 5_000_000 else 1)
            sp = "-"
            if nlp is not None and size <= 1_000_000:
                sp = f"{median_seconds(lambda text=text: list(nlp(text).sents), 1):.2f}"
            print(f"| {shape} | {label} | {secs:.3f} | {secs / (size / 1e6):.2f} | {len(passages)} | "
                  f"{max(len(p.text) for p in passages)} | {sp} |", flush=True)


if __name__ == "__main__":
    main()
