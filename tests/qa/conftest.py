"""Fixtures for the qa tests: hand-chunked passages of the seed article (the embedder comes from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from articleqa.models import Passage
from articleqa.text import split_sentences

SEED = Path(__file__).resolve().parents[2] / "samples" / "articles" / "xi-kim-beijing-2025-09-04.txt"
STORY_START = "China's President Xi Jinping called on Thursday"
STORY_END = 'evolves."'


def seed_story() -> str:
    """The seed article's story paragraphs: what the passages' offsets point into."""
    raw = SEED.read_text(encoding="utf-8")
    start = raw.index(STORY_START)
    return raw[start : raw.index(STORY_END, start) + len(STORY_END)]


def chunk(text: str, size: int = 700, article_id: str = "xi-kim") -> list[Passage]:
    """Sentence-aligned ~`size`-char passages overlapping by one sentence, with offsets into `text`."""
    spans = split_sentences(text)
    passages: list[Passage] = []
    i = 0
    while i < len(spans):
        j = i + 1
        while j < len(spans) and spans[j].end - spans[i].start <= size:
            j += 1
        start, end = spans[i].start, spans[j - 1].end
        passages.append(
            Passage(
                id=f"{article_id}:{len(passages)}", article_id=article_id, text=text[start:end],
                position=len(passages), start=start, end=end, date="2025-09-05", source="Japan Today",
                title="China's Xi seeks closer coordination with North Korea in meeting with Kim",
                url="https://japantoday.com/category/world/xi-kim",
            )
        )
        if j >= len(spans):
            break
        i = max(i + 1, j - 1)  # repeat the last sentence, as the real chunker does
    return passages


@pytest.fixture(scope="session")
def story() -> str:
    return seed_story()


@pytest.fixture(scope="session")
def passages(story: str) -> list[Passage]:
    return chunk(story)
