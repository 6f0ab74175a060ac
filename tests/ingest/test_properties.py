"""Property-based tests over the loaders, the cleaner, the chunker and the question path: whatever comes in, no
exception escapes, time stays bounded, and the store is unchanged by questions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from articleqa.models import Article, RawDocument
from articleqa.safe_text import clean_field, terminal_safe
from articleqa.settings import Settings
from ingest.chunk import chunk
from ingest.clean import CleanError, clean
from ingest.load import SUPPORTED_EXTENSIONS, LoadError, load_inputs
from qa.question_guard import prepare_question

# Text that hostile feeds send: any code point (lone surrogates included), controls, markup and sentence marks.
_PIECES = ["\ud800", "\udfff", "\x00", "\x1b[2J", "\u202e", "\n", ".", ". ", " ", "<div>", "</p>", ":", "Mr.", "?",
           "9" * 50, "<a " + "x=1 " * 50 + ">", "The mayor spoke on Monday."]
HOSTILE = st.lists(st.one_of(st.text(alphabet=st.characters(exclude_categories=()), max_size=20),
                             st.sampled_from(_PIECES)), max_size=40).map("".join)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _bounded(seconds: float):
    """A context that fails when its block takes longer than `seconds` (a generous bound: no hang, no blow-up)."""

    class _Timer:
        def __enter__(self):
            self.t = time.monotonic()

        def __exit__(self, *exc):
            assert time.monotonic() - self.t < seconds, f"took longer than {seconds} s"
            return False

    return _Timer()


@FAST
@given(data=st.binary(max_size=2000), ext=st.sampled_from(sorted(SUPPORTED_EXTENSIONS)))
def test_loaders_never_raise(tmp_path_factory, data, ext):
    f = tmp_path_factory.mktemp("load") / f"input{ext}"
    f.write_bytes(data)
    with _bounded(20):
        got = list(load_inputs([str(f)], Settings()))
    assert got and all(isinstance(g, RawDocument | LoadError) for g in got)
    for g in got:
        if isinstance(g, RawDocument):
            g.text.encode("utf-8", "surrogatepass")


@FAST
@given(records=st.lists(st.one_of(
    st.fixed_dictionaries({"text": HOSTILE, "title": HOSTILE, "id": st.text(max_size=20)}),
    st.integers(min_value=-(10**6000), max_value=10**6000).map(lambda n: {"text": "x", "n": n}),
    st.recursive(st.none() | st.booleans() | st.text(max_size=5), lambda c: st.lists(c, max_size=3), max_leaves=20),
), max_size=5))
def test_jsonl_lines_fail_alone(tmp_path_factory, records):
    f = tmp_path_factory.mktemp("jsonl") / "records.jsonl"
    lines = []
    for r in records:
        try:
            lines.append(json.dumps(r))
        except ValueError:  # an int too large for json.dumps is written by hand, as a feed would
            lines.append('{"text": "x", "n": ' + "9" * 5000 + "}")
    f.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    with _bounded(20):
        got = list(load_inputs([str(f)], Settings()))
    assert len(got) >= 1 and all(isinstance(g, RawDocument | LoadError) for g in got)


@FAST
@given(text=HOSTILE, title=HOSTILE, is_html=st.booleans())
def test_cleaner_raises_only_clean_errors_and_cleans_metadata(text, title, is_html):
    raw = RawDocument(origin="x.html" if is_html else "x.txt", text=text * 3, is_html=is_html, title=title or None)
    with _bounded(20):
        try:
            article = clean(raw)
        except CleanError:
            return
    for value in (article.text, article.title, article.author, article.source, article.url):
        value.encode("utf-8")  # no lone surrogates left
    assert not any(c in article.title for c in "\x00\x1b\n\r\u202e")


@FAST
@given(text=HOSTILE, size=st.integers(50, 900), cap=st.integers(20, 3000))
def test_chunker_offsets_and_cap_hold(text, size, cap):
    article = Article(id="a", text=text)
    with _bounded(10):
        passages = chunk(article, size=size, max_chars=cap)
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert len(p.text) <= max(cap, 1)


@FAST
@given(value=HOSTILE)
def test_safe_text_never_raises(value):
    assert "\x1b" not in terminal_safe(value) and "\x00" not in clean_field(value)
    cleaned, reason = prepare_question(value, 2000)
    cleaned.encode("utf-8")
    assert reason or cleaned.strip()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedder):
    """An embedded store holding the seed article, and an Asker over it."""
    from ingest.pipeline import Ingestor
    from qa.ask import Asker
    from tests.conftest import SEED

    s = Settings(store_path=Path(tmp_path_factory.mktemp("q")) / "store", collection="props",
                 reference_date="2025-09-05")
    Ingestor(s, embedder=embedder).run([str(SEED)])
    return Asker(s)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(question=HOSTILE)
def test_question_path_never_raises_and_leaves_the_store_alone(seeded, question):
    store = seeded.store
    before = (store.count_passages(), store.generation(), sorted(store.records()))
    with _bounded(60):
        answer = seeded.ask(question)
    assert isinstance(answer.answer, str)
    json.dumps(answer.to_dict())  # always serialisable
    assert (store.count_passages(), store.generation(), sorted(store.records())) == before
