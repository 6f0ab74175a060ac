"""Shared fixtures: settings on a temporary store, the real embedding model (loaded once), tiny article corpora."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# `articleqa ask` answers in its own process in tests unless a test asks for the daemon (tests/cli/test_daemon.py):
# no test leaves a daemon behind.
os.environ.setdefault("ARTICLEQA_ASK_SERVER", "off")

from articleqa.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "samples" / "articles" / "xi-kim-beijing-2025-09-04.txt"
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at an empty embedded store in a temporary folder."""
    return Settings(store_path=tmp_path / "store", collection="test")


@pytest.fixture(scope="session")
def embedder():
    """The real packaged all-MiniLM-L6-v2, loaded once per test session."""
    from articleqa.embed import get_embedder

    emb = get_embedder(Settings())
    emb.encode_query("warm up")
    return emb


_PEOPLE = ["Maria Lopez", "Kenji Sato", "Amara Okafor", "Lena Fischer", "Omar Haddad", "Priya Nair", "Tom Becker"]
_PLACES = ["Lisbon", "Osaka", "Lagos", "Hamburg", "Amman", "Kochi", "Denver"]
_THINGS = ["a new bridge", "the port expansion", "a solar farm", "the rail strike", "flood defences", "a tech fund"]


def make_article(i: int, sentences: int = 12) -> dict:
    """A deterministic synthetic news record (JSONL shape) with distinct facts per article."""
    rng = random.Random(i)
    person, place, thing = rng.choice(_PEOPLE), rng.choice(_PLACES), rng.choice(_THINGS)
    lines = [f"{person} announced {thing} in {place} on Monday, officials said (story {i})."]
    for j in range(sentences - 1):
        p2 = rng.choice(_PEOPLE)
        lines.append(
            f"In remark {j} of report {i}, {p2} said the plan for {thing} would cost {rng.randint(2, 900)} million "
            f"dollars and take {rng.randint(2, 12)} years to finish near {rng.choice(_PLACES)}."
        )
    return {
        "id": f"syn-{i:04d}",
        "title": f"{person} unveils {thing} in {place} ({i})",
        "text": "\n".join(lines),
        "publish_date": f"2025-0{1 + i % 9}-1{i % 10}",
        "source": rng.choice(["Daily Wire Test", "Harbor Times"]),
        "url": f"https://news.example.test/{i}",
    }


@pytest.fixture
def corpus_file(tmp_path: Path):
    """Write n synthetic articles to a JSONL file and return its path."""

    def _make(n: int, name: str = "corpus.jsonl", start: int = 0) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(json.dumps(make_article(i)) for i in range(start, start + n)) + "\n")
        return path

    return _make
