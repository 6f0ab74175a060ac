"""Excerpts of long supporting sentences: verbatim clauses around the answer span or the question's words."""

from __future__ import annotations

from qa.excerpt import clauses, excerpt

LONG = ("Police arrested 31 men near a Pride event in Coeur d'Alene, Idaho, on Saturday, after a caller reported "
        "a group of masked men piling into a U-Haul truck at a hotel, police said.")


def test_clauses_cover_the_sentence_in_order() -> None:
    parts = clauses(LONG)
    assert len(parts) == 5 and parts[0][0] == 0 and parts[-1][1] == len(LONG)
    assert all(a < b <= c for (a, b), (c, _) in zip(parts, parts[1:], strict=False))


def test_the_clause_holding_the_span_is_kept_and_grown_within_the_limit() -> None:
    at = LONG.index("Idaho")
    cut = excerpt(LONG, "Where was the Pride event?", 15, (at, at + 5))
    assert cut.start <= at and at + 5 <= cut.end and len(LONG[cut.start : cut.end].split()) <= 15
    assert "Pride event" in cut.text  # grown towards the clause sharing the question's words
    assert cut.text.endswith("…") and LONG[cut.start : cut.end].rstrip(",") in LONG


def test_without_a_span_the_clause_sharing_most_question_words_is_shown() -> None:
    cut = excerpt(LONG, "Who reported men piling into a truck?", 15)
    assert "piling into a U-Haul truck" in cut.text and cut.text.startswith("…")


def test_short_sentences_and_a_zero_limit_keep_the_whole_sentence() -> None:
    short = "Xi met Kim in Beijing."
    assert excerpt(short, "Who met Kim?", 15).text == short
    assert excerpt(LONG, "Where?", 0).text == LONG
    far = excerpt(LONG, "Where?", 15, (len(LONG) + 5, len(LONG) + 9))  # a span outside every clause: whole
    assert far.text == LONG
