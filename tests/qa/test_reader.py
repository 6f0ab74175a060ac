"""The learned span reader and the direct-answer check, over the seed article with the real models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from articleqa.models import Citation, Passage
from articleqa.settings import Settings
from qa.extractive import ExtractiveAnswerer
from qa.reader import WEIGHTS_PATH, ReaderWeights, ShortAnswer, cite_short, default_weights, verify_span
from qa.reader_features import Context, feature_names


@pytest.fixture(scope="module")
def answerer(embedder) -> ExtractiveAnswerer:
    return ExtractiveAnswerer(Settings(), embedder)


def test_shipped_weights_match_the_features() -> None:
    w = default_weights()
    assert list(w.names) == feature_names()
    assert w.weights.shape == (len(feature_names()),) and np.isfinite(w.weights).all()
    assert 0.0 < w.threshold < 1.0
    fitted = json.loads(WEIGHTS_PATH.read_text())["fitted"]
    assert fitted["train_questions"] > 100 and fitted["validation_questions"] > 30


def test_weights_for_other_features_are_refused(tmp_path) -> None:
    bad = tmp_path / "w.json"
    bad.write_text(ReaderWeights(("bias",), np.zeros(1), 0.5).to_json())
    with pytest.raises(ValueError, match="refit"):
        ReaderWeights.load(bad)


def test_verify_span() -> None:
    quote = "Those accompanying him included his sister Kim Yo Jong."
    at = quote.index("his sister")
    assert verify_span("his sister Kim Yo Jong", quote, at, at + 22)
    assert not verify_span("his sister Kim Yo Jong", quote, at + 1, at + 23)
    assert not verify_span("", quote, 0, 0)
    assert not verify_span("Kim Yo Jong", quote, 0, 999)


def _citation(number: int, quote: str, start: int, record_field: str = "") -> Citation:
    return Citation(number=number, passage_id="p", article_id="a", title="t", source="s", date="2025-09-05",
                    quote=quote, start=start, end=start + len(quote), record_field=record_field)


def test_cite_short_ties_the_span_to_its_citation_and_article_offsets() -> None:
    sentence = "Kim arrived on Tuesday."
    short = ShortAnswer("Tuesday", sentence, 0, 15, 22, 0.9)
    direct = cite_short(short, [_citation(1, "Other sentence.", 0), _citation(2, sentence, 100)])
    assert direct is not None and direct.number == 2 and (direct.start, direct.end) == (115, 122)
    assert cite_short(short, [_citation(1, "Other sentence.", 0)]) is None  # its sentence is not cited: no span
    assert cite_short(ShortAnswer("Monday", sentence, 0, 15, 22, 0.9), [_citation(1, sentence, 0)]) is None
    assert cite_short(short, [_citation(1, sentence, 0, record_field="date")]) is None
    assert cite_short(None, [_citation(1, sentence, 0)]) is None


def _ranked(passages: list[Passage], needle: str) -> list[Passage]:
    """The passages as retrieval would rank them for a question: the one holding `needle` first."""
    return sorted(passages, key=lambda p: needle not in p.text)


def test_who_accompanied_kim_ranks_the_sister_first(answerer: ExtractiveAnswerer, passages: list[Passage]) -> None:
    from qa.extractive import EXPECTED, PERSON_NOUNS, _stem_one

    ranked_passages = _ranked(passages, "Those accompanying")
    q, ranked = answerer.rank("Who accompanied Kim?", ranked_passages)
    ok = [c for c in ranked if c.type_ok]
    _, reading, context = answerer.reading(q, ranked, ok, ranked_passages)
    read = answerer.reader.run(q.text, q.kind, q.stems, q.words, reading, _stem_one, EXPECTED, PERSON_NOUNS, context)
    assert read.ranked and read.ranked[0][1].text == "Kim Yo Jong"
    draft = answerer.run("Who accompanied Kim?", ranked_passages)
    assert not draft.refused and len(draft.sentences) <= 2
    # The span is shown only when it clears the fitted threshold; else the sentence naming her leads.
    assert "Kim Yo Jong" in (draft.short_answer or draft.sentences[0][0])
    if draft.short is not None:  # a shown span is a verbatim slice of the sentence that leads the answer
        assert draft.short.sentence == draft.sentences[0][0]
        assert draft.short.sentence[draft.short.start : draft.short.end] == draft.short_answer


def test_which_question_target() -> None:
    from qa.extractive import _parse
    from qa.reader_features import answer_target

    assert answer_target(_parse("Which show received the most nominations for the 2022 Emmy Awards?")) == "show"
    assert answer_target(_parse("Which menu item did KFC roll out this week?")) == "menu item"
    assert answer_target(_parse("Supermarkets in France are struggling to stock which condiment?")) == "condiment"
    assert answer_target(_parse("Who accompanied Kim?")) == ""
    assert answer_target(_parse("What did the images show?")) == ""


def test_target_similarity_prefers_the_kind_asked_for(embedder) -> None:
    from qa.cite import encode_cached
    from qa.reader_features import Context, SpanCandidate, target_similarities

    spans = [SpanCandidate("Sri Lanka", 0, 0, 9, "GPE"), SpanCandidate("negotiations", 0, 20, 32, "CHUNK")]
    context = Context.of([], "country", lambda texts: encode_cached(embedder, texts))
    sims = target_similarities(context, spans, ["GPE", ""])
    assert sims[0, 0] > sims[1, 0] + 0.2  # "country" ~ "Sri Lanka", not ~ "negotiations"
    assert sims[0, 1] > 0.3 and sims[1, 1] == 0.0  # GPE's description "Countries, cities, states"
    assert not target_similarities(Context.of([]), spans, ["GPE", ""]).any()  # no noun asked for: no signal


def test_recurrence_counts_articles_not_passages(answerer: ExtractiveAnswerer, passages: list[Passage]) -> None:
    from qa.extractive import EXPECTED, _stem_one
    from qa.reader_features import candidate_spans, feature_names, span_features

    q, ranked = answerer.rank("Where did Kim's meeting with Xi take place?", passages)
    views = answerer.evidence(q, ranked, passages)[:1]
    spans = candidate_spans(views)
    col = feature_names().index("article_freq")

    def freq(context: Context) -> np.ndarray:
        return span_features(q.text, q.kind, q.stems, q.words, views, spans, _stem_one, EXPECTED,
                             context=context)[:, col]

    one = Context.of([(p.article_id, p.title, p.text) for p in passages])  # many passages of one article
    two = Context.of([(p.article_id, p.title, p.text) for p in passages] + [("other", "t", views[0].text)])
    assert freq(one).max() <= np.log1p(1) + 1e-9
    assert freq(two).max() > freq(one).max()


@pytest.mark.parametrize("question, needle, expected", [
    ("Where did Kim's meeting with Xi take place?", "where his meeting with Xi took place", "Great Hall of the People"),
    ("When did Kim arrive in Beijing?", "Kim arrived in Beijing", "Tuesday"),
])
def test_direct_answers_on_the_seed(answerer: ExtractiveAnswerer, passages: list[Passage], question: str,
                                    needle: str, expected: str) -> None:
    draft = answerer.run(question, _ranked(passages, needle))
    assert not draft.refused
    lead = draft.short_answer or draft.sentences[0][0]
    assert expected in lead
