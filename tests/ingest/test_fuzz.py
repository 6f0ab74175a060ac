"""Fuzz: a few hundred malformed inputs in one ingest run: no crash, one clear line each, a consistent store."""

from __future__ import annotations

import codecs
import json
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from articleqa.settings import Settings
from articleqa.store import Store
from ingest.pipeline import Ingestor
from tests.ingest.conftest import SEED, STORY_1, article_html, make_pdf

pytestmark = pytest.mark.slow
SEED_NUMBER = 20250904
PER_KIND = 22
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
EXTENSIONS = [".txt", ".md", ".html", ".htm", ".pdf", ".json", ".jsonl"]


def _story(rng: random.Random) -> str:
    paragraphs = [p for p in SEED.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    start = rng.randrange(len(paragraphs))
    return "\n\n".join(paragraphs[start : start + rng.randint(1, 6)])


def _cut(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randint(0, max(1, len(data) - 1))]


def _random_bytes(rng: random.Random) -> tuple[str, bytes]:
    return rng.choice(EXTENSIONS), rng.randbytes(rng.choice([0, 1, 7, 100, 3000, 40000]))


def _truncated_html(rng: random.Random) -> tuple[str, bytes]:
    return ".html", _cut(article_html("Council approves footbridge", STORY_1 + [_story(rng)]).encode(), rng)


def _truncated_pdf(rng: random.Random) -> tuple[str, bytes]:
    lines = [ln.encode("latin-1", "replace").decode("latin-1") for ln in _story(rng).split(". ")[:20]]
    return ".pdf", _cut(make_pdf(lines), rng)


def _truncated_json(rng: random.Random) -> tuple[str, bytes]:
    record = {"id": f"fz-{rng.randrange(10**9)}", "title": "Fuzzed story", "text": _story(rng)}
    ext = rng.choice([".json", ".jsonl"])
    return ext, _cut(json.dumps(record).encode(), rng)


def _huge_line(rng: random.Random) -> tuple[str, bytes]:
    word = rng.choice(["a", "word ", "Ünïcödé ", "x" * 50])
    return rng.choice([".txt", ".md", ".html"]), (word * rng.randint(20_000, 60_000)).encode()


def _deep_nesting(rng: random.Random) -> tuple[str, bytes]:
    depth = rng.randint(2_000, 200_000)
    kind = rng.choice(["json", "jsonl", "html"])
    if kind == "html":
        return ".html", ("<div>" * depth + "deep text." + "</div>" * rng.randint(0, depth)).encode()
    body = '{"text": ' * depth + '"x"' + "}" * depth
    return f".{kind}", body.encode()


def _odd_encoding(rng: random.Random) -> tuple[str, bytes]:
    text = _story(rng) + " Café — naïve “quotes” 東京 🚆"
    encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "shift_jis", "koi8-r"])
    return rng.choice([".txt", ".md", ".html"]), text.encode(encoding, errors="replace")


def _nuls(rng: random.Random) -> tuple[str, bytes]:
    data = bytearray(_story(rng).encode())
    for _ in range(rng.randint(1, 50)):
        data.insert(rng.randrange(len(data) + 1), 0)
    return rng.choice([".txt", ".md", ".jsonl"]), bytes(data)


def _boms(rng: random.Random) -> tuple[str, bytes]:
    bom = rng.choice([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8 * 3])
    ext = rng.choice([".txt", ".json", ".jsonl", ".html"])
    body = _story(rng)
    if ext in (".json", ".jsonl"):
        body = json.dumps({"id": f"bom-{rng.randrange(10**9)}", "text": body})
    return ext, bom + body.encode()


def _zero_width(rng: random.Random) -> tuple[str, bytes]:
    text = "".join(c + (rng.choice(ZERO_WIDTH) if rng.random() < 0.3 else "") for c in _story(rng))
    if rng.random() < 0.3:
        text = "".join(rng.choice(ZERO_WIDTH) for _ in range(5000))  # nothing visible at all
    return rng.choice([".txt", ".md", ".html"]), text.encode()


def _odd_json(rng: random.Random) -> tuple[str, bytes]:
    body = rng.choice(['[]', '{}', 'null', '"text"', '42', '{"text": null}', '{"text": 5}', '{"text": ["a"]}',
                       '[{"text": ""}]', '{"id": {"x": 1}, "text": "Short."}', 'NaN', '{"text": "\\ud800"}'])
    return rng.choice([".json", ".jsonl"]), body.encode()


GENERATORS: list[Callable[[random.Random], tuple[str, bytes]]] = [
    _random_bytes, _truncated_html, _truncated_pdf, _truncated_json, _huge_line, _deep_nesting, _odd_encoding,
    _nuls, _boms, _zero_width, _odd_json,
]


def make_inputs(folder: Path) -> list[Path]:
    """PER_KIND files of every kind, reproducible from SEED_NUMBER."""
    rng = random.Random(SEED_NUMBER)
    paths = []
    for gen in GENERATORS:
        for i in range(PER_KIND):
            ext, data = gen(rng)
            path = folder / f"{gen.__name__.strip('_')}-{i:03d}{ext}"
            path.write_bytes(data)
            paths.append(path)
    return paths


def test_malformed_inputs_never_crash_and_leave_a_consistent_store(tmp_path, embedder):
    folder = tmp_path / "fuzz"
    folder.mkdir()
    paths = make_inputs(folder)
    assert len(paths) >= 200
    settings = Settings(store_path=tmp_path / "store", collection="fuzz", max_file_mb=2.0)
    report = Ingestor(settings, embedder=embedder).run([str(folder)])

    by_file: dict[str, list] = defaultdict(list)
    for item in report.items:  # a JSONL line reports as "file:line"
        key = next((str(p) for p in paths if item.origin.startswith(str(p))), item.origin)
        by_file[key].append(item)
    for path in paths:
        items = by_file.get(str(path), [])
        failed = [i for i in items if i.status == "failed"]
        assert items, f"{path.name}: no line at all in the report"
        if failed:
            # A JSONL file reports each bad line alone (its good lines are still stored), at most max_bad_lines of
            # them plus one line counting the rest; any other file fails as one line.
            limit = settings.limits.max_bad_lines + 1 if path.suffix == ".jsonl" else 1
            assert len(failed) <= limit, f"{path.name}: {[i.line() for i in items]}"
            if path.suffix != ".jsonl":
                assert len(items) == 1, f"{path.name}: {[i.line() for i in items]}"
            for item in failed:
                line = item.line()
                assert "\n" not in line and path.name in line and item.reason.strip(), line
                assert len(line) < 400 and "Traceback" not in line, line
        else:
            assert all(i.status in ("added", "duplicate", "unchanged") for i in items), [i.line() for i in items]
    counts = report.counts()
    assert counts["failed"] > len(paths) // 3 and counts["added"] > 0  # the fuzz exercised both outcomes

    store = Store(settings, embedder)
    records = store.records()
    assert not [r.id for r in records.values() if r.pending]
    got = store.passages.get(include=["metadatas"])
    per_article: dict[str, int] = defaultdict(int)
    for meta in got["metadatas"]:
        rec = records.get(meta["article_id"])
        assert rec is not None and rec.hash == meta["content_hash"]
        per_article[rec.id] += 1
    assert dict(per_article) == {r.id: r.passages for r in records.values()}
    assert len(records) == counts["added"]
