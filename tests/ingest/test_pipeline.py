"""End-to-end ingest against the real store and model: idempotence, updates, duplicates, deletes, bad input."""

import json
import subprocess
import sys
import time

from articleqa.catalog import delete
from articleqa.store import Store
from ingest.pipeline import Ingestor
from qa.keyword_index import KeywordIndex
from tests.conftest import REPO, SEED, make_article


def _state(store: Store) -> dict[str, tuple[str, dict]]:
    got = store.passages.get(include=["documents", "metadatas"])
    return {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)}


def test_ingest_is_idempotent_and_incremental(settings, embedder, corpus_file):
    corpus = corpus_file(6)
    ing = Ingestor(settings, embedder=embedder)
    first = ing.run([str(corpus), str(SEED)])
    assert first.counts()["added"] == 7 and first.ok
    state = _state(ing.store)
    assert len(state) == first.passages_embedded > 7

    again = ing.run([str(corpus), str(SEED)])
    assert again.counts()["unchanged"] == 7 and again.passages_embedded == 0
    assert _state(ing.store) == state

    # one article changes text under the same id: its passages are replaced, nothing stale remains
    records = [make_article(i) for i in range(6)]
    records[2]["text"] += "\nA late correction added one more sentence to this story."
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    third = ing.run([str(corpus)])
    assert third.counts() == {"added": 0, "updated": 1, "unchanged": 5, "duplicate": 0, "failed": 0}
    after = _state(ing.store)
    digests = {m["content_hash"] for d, m in after.values() if m["article_id"] == "syn-0002"}
    assert len(digests) == 1 and ing.store.record("syn-0002").hash in digests
    assert any("late correction" in d for d, _ in after.values())
    assert {k for k, (_, m) in after.items() if m["article_id"] != "syn-0002"} == {
        k for k, (_, m) in state.items() if m["article_id"] != "syn-0002"
    }


def test_duplicates_are_stored_once_and_reported(settings, embedder, tmp_path):
    wire = make_article(1)
    copy = dict(wire, id="other-site-copy", url="https://mirror.example.test/x", text=wire["text"] + " Reuters.")
    (tmp_path / "a.jsonl").write_text(json.dumps(wire) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps(copy) + "\n")
    ing = Ingestor(settings, embedder=embedder)
    report = ing.run([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")])
    assert report.counts()["added"] == 1 and report.counts()["duplicate"] == 1
    dup = next(i for i in report.items if i.status == "duplicate")
    assert "syn-0001" in dup.reason
    assert ing.store.record("other-site-copy") is None
    assert "other-site-copy" in ing.store.record("syn-0001").aliases
    # the seed file under another name is the same story: reported, not stored twice
    (tmp_path / "renamed.txt").write_text(SEED.read_text())
    r2 = ing.run([str(SEED), str(tmp_path / "renamed.txt")])
    assert r2.counts()["added"] == 1 and r2.counts()["duplicate"] == 1


def test_bad_inputs_are_reported_and_the_rest_is_stored(settings, embedder, tmp_path, corpus_file):
    good = corpus_file(2)
    ing = Ingestor(settings, embedder=embedder)
    ing.run([str(good)])
    before = _state(ing.store)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "broken.jsonl").write_text(json.dumps(make_article(7)) + "\n{not json\n")
    report = ing.run(
        [
            str(tmp_path / "empty.txt"),
            str(tmp_path / "bin.txt"),
            str(tmp_path / "broken.jsonl"),
            str(tmp_path / "missing.txt"),
            str(good),
        ]
    )
    failed = [i for i in report.items if i.status == "failed"]
    assert len(failed) == 4 and not report.ok
    assert any(i.origin.endswith("broken.jsonl:2") for i in failed)
    assert all(i.reason and "\n" not in i.line() for i in failed)
    assert report.counts()["added"] == 1 and report.counts()["unchanged"] == 2
    after = _state(ing.store)
    assert set(before) <= set(after)


def test_delete_keeps_keyword_index_in_step(settings, embedder, corpus_file):
    ing = Ingestor(settings, embedder=embedder)
    ing.run([str(corpus_file(3))])
    index = KeywordIndex(settings, ing.store)
    assert {ing.store.get_passages([h.passage_id])[0].article_id for h in index.search("story 1", 50)} >= {"syn-0001"}
    assert delete(ing.settings, ["syn-0001", "nope"], ing.store) == {"syn-0001": True, "nope": False}
    hits = index.search("story 1", 50)
    assert hits and all(not h.passage_id.startswith("syn-0001") for h in hits)
    # a second process (fresh index object) loads the saved index for the same generation
    other = KeywordIndex(settings, Store(settings, embedder))
    assert [h.passage_id for h in other.search("story 2", 5)] == [h.passage_id for h in index.search("story 2", 5)]


def test_a_store_write_that_never_returns_ends_the_process_at_the_write_timeout(tmp_path):
    """The last resort for a Chroma write that hangs (on a full disk it holds Python's lock, so only faulthandler's
    C thread can act): the process ends with exit 1 and the stacks in the cache folder."""
    script = f"""
import time
from pathlib import Path
from articleqa.priority import PriorityThread
from articleqa.settings import Settings
from ingest.pipeline import Ingestor
from tests.conftest import make_article
import json
s = Settings(store_path=Path({str(tmp_path / 's')!r}), store_write_timeout=3)
ing = Ingestor(s, writer=PriorityThread(0, "w"))
ing.store.replace_articles = lambda writes: time.sleep(3600)
path = Path({str(tmp_path / 'a.jsonl')!r})
path.write_text(json.dumps(make_article(1)) + "\\n")
ing.run([str(path)])
"""
    t = time.monotonic()
    got = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert got.returncode == 1 and time.monotonic() - t < 200, got.stderr
    assert "Timeout" in (tmp_path / "s" / ".articleqa-cache" / "stuck-write.log").read_text()
