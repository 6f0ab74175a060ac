"""Record questions: which field is asked for, the answer from the top passage's record, and its verification."""

from __future__ import annotations

from dataclasses import replace

import pytest

from articleqa.models import Passage
from qa.metadata import MetadataAnswerer, record_field, record_topic, verify


@pytest.mark.parametrize(
    ("question", "field"),
    [
        ("Who wrote the article about Xi's meeting with Kim?", "author"),
        ("Who is the author of the story on the parade?", "author"),
        ("Whose byline is on the Beijing report?", "author"),
        ("Which newspaper published the story about Kim's train?", "source"),
        ("Where was the article about the summit published?", "source"),
        ("When was the article about Kim's visit published?", "date"),
        ("Who wrote the novel War and Peace?", ""),
        ("When was the treaty published?", ""),
        ("Who accompanied Kim?", ""),
    ],
)
def test_record_field(question: str, field: str) -> None:
    assert record_field(question) == field


def test_record_topic_is_what_the_article_is_about() -> None:
    assert record_topic("When was the article about Kim's visit to Beijing published?") == "Kim's visit to Beijing"
    assert record_topic("Who wrote it?") == "Who wrote it?"


@pytest.fixture
def top(passages: list[Passage]) -> list[Passage]:
    return [replace(passages[0], author="Liz Lee"), *passages[1:]]


def test_answer_copies_the_field_and_verifies(top: list[Passage]) -> None:
    record = MetadataAnswerer().run(record_field("Who wrote the article about Xi and Kim?"), top)
    assert record is not None and record.citation is not None
    assert record.short_answer == "Liz Lee" and record.text.endswith("written by Liz Lee [1].")
    assert verify(record.citation, top)
    date = MetadataAnswerer().run(record_field("When was the article about Xi and Kim published?"), top)
    assert date is not None and date.short_answer == "5 September 2025"
    assert verify(date.citation, top)


def test_verify_rejects_a_value_the_record_does_not_hold(top: list[Passage]) -> None:
    record = MetadataAnswerer().run(record_field("Who wrote the article about Xi and Kim?"), top)
    assert record is not None and record.citation is not None
    assert not verify(replace(record.citation, quote="Someone Else"), top)
    assert not verify(record.citation, top[1:])  # the cited passage is not among those retrieved


def test_missing_field_gives_a_reason_not_a_guess(passages: list[Passage]) -> None:
    # no author stored in these passages
    record = MetadataAnswerer().run(record_field("Who wrote the article about Xi and Kim?"), passages)
    assert record.citation is None
    assert "has no byline" in record.text
