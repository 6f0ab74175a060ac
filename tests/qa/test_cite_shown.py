"""The checker's guarantee that what is shown is what is cited, on a heading glued to the sentence after it."""

from __future__ import annotations

from articleqa.models import Passage
from qa.cite import CitationChecker, segments_outside

HEADING = "Harbour strike:Port workers to walk out for three days"
SENTENCE = "Port workers in Exampleton said on Monday they would strike for three days over pay and safety rules."


def _passage(text: str) -> Passage:
    return Passage(id="p0", article_id="a", text=text, position=0, start=0, end=len(text), title="Strike")


def test_a_quote_over_a_heading_is_shown_as_its_cited_sentences(embedder):
    passage = _passage(f"{HEADING}\n{SENTENCE}")
    checked = CitationChecker(embedder).run(f"{HEADING} {SENTENCE} [1]", [passage])
    quotes = {c.number: c.quote for c in checked.citations}
    assert segments_outside(checked.text, quotes) == []
    assert SENTENCE in quotes.values()


def test_a_heading_glued_onto_a_quote_is_not_shown(embedder):
    passage = _passage(f"{HEADING}\n{SENTENCE}")
    headline = HEADING.split(":", 1)[1]
    checked = CitationChecker(embedder).run(f"{headline} {SENTENCE} [1]", [passage])
    quotes = {c.number: c.quote for c in checked.citations}
    assert segments_outside(checked.text, quotes) == [], checked.text


def test_glued_kicker_is_split_from_its_headline():
    from articleqa.text import split_sentences

    assert [s.text for s in split_sentences(HEADING)] == ["Harbour strike:", HEADING.split(":", 1)[1]]


def test_segments_outside_flags_text_beyond_the_quote():
    assert segments_outside("Port workers will strike [1].", {1: SENTENCE}) == ["Port workers will strike"]
    assert segments_outside("Port workers in Exampleton said on Monday (1 September 2025) they would strike [1].",
                            {1: SENTENCE}) == []
