from articleqa.models import Article
from articleqa.text import split_sentences
from ingest.chunk import chunk, content_hash, embedding_text


def _article(text: str) -> Article:
    return Article(id="a1", text=text, title="T", date="2025-09-05", source="S")


def test_passages_cover_whole_sentences_with_exact_offsets():
    text = "\n".join(f"Sentence number {i} says something about topic {i % 3}." for i in range(40))
    passages = chunk(_article(text), size=200, overlap=1)
    sentence_bounds = {(s.start, s.end) for s in split_sentences(text)}
    starts = {s for s, _ in sentence_bounds}
    ends = {e for _, e in sentence_bounds}
    assert len(passages) > 5
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert p.start in starts and p.end in ends  # never cuts a sentence
        assert len(p.text) <= 200
    # every sentence is in some passage, and consecutive passages share exactly one sentence
    covered = {(s.start, s.end) for p in passages for s in split_sentences(p.text, p.start)}
    assert covered == sentence_bounds
    for a, b in zip(passages, passages[1:], strict=False):
        assert split_sentences(a.text)[-1].text == split_sentences(b.text)[0].text


def test_ids_are_stable_and_change_with_content():
    art = _article("One sentence here. Another sentence there.")
    ids1 = [p.id for p in chunk(art)]
    assert ids1 == [p.id for p in chunk(_article("One sentence here. Another sentence there."))]
    art2 = _article("One sentence here. A changed sentence there.")
    assert content_hash(art) != content_hash(art2)
    assert not set(ids1) & {p.id for p in chunk(art2)}


def test_long_sentence_becomes_its_own_passage_and_embedding_text_has_context():
    long = "Word " + "word " * 300 + "end."
    passages = chunk(_article(f"Short one. {long} Short two."), size=100, overlap=1)
    assert any(p.text.startswith("Word") and len(p.text) > 100 for p in passages)
    assert embedding_text(passages[0]).startswith("T (2025-09-05)\n")
