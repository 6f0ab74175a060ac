"""Further answers of a list question, on hand-made parsed sentences with the real embedding model."""

from __future__ import annotations

from articleqa.text import nlp
from qa.cite import encode_cached
from qa.extractive import _stem_one
from qa.kinds import PERSON_NOUNS
from qa.more_answers import anchor_spans, more_answers
from qa.reader_features import SentenceView


def _view(text: str, passage: int = 0) -> SentenceView:
    return SentenceView(text, passage, nlp()(text), 0.5, 0.5, 0.5, 0)


LEAD = _view("Those travelling with the governor included his brother Michael Carter, a former senator.")
NAME = LEAD.text.index("Michael Carter")
ANCHOR = (NAME, NAME + len("Michael Carter"))
QWORDS = frozenset({"who", "travelled", "with", "the", "governor"})
QSTEMS = frozenset({"travel", "governor"})


def test_anchor_spans_cover_the_whole_answer() -> None:
    texts = {s.text for s in anchor_spans(LEAD, ANCHOR)}
    assert {"Michael Carter", "his brother", "his brother Michael Carter"} <= texts
    assert "former senator" not in texts


def test_a_further_person_of_the_same_kind_is_found(embedder) -> None:
    others = [_view("The governor arrived in Denver on Monday with his son.", 1),
              _view("Carter spoke to the governor at noon.", 2),  # the same man again
              _view("Rain fell all week.", 3)]
    found = more_answers("person", QWORDS, QSTEMS, _stem_one, LEAD, ANCHOR, others,
                         lambda t: encode_cached(embedder, t), PERSON_NOUNS)
    assert [(m.span.text, m.sentence.passage) for m in found] == [("his son", 1)]


def test_other_kinds_get_no_list(embedder) -> None:
    assert more_answers("date", QWORDS, QSTEMS, _stem_one, LEAD, ANCHOR,
                        [_view("The governor arrived with his son.")], lambda t: encode_cached(embedder, t),
                        PERSON_NOUNS) == []
