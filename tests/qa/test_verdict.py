"""The yes/no verdict's model and features: shipped weights load, scoring is a logistic of the named features."""

from __future__ import annotations

from pathlib import Path

from articleqa.models import Passage
from qa.multihop import Evidence
from qa.verdict import FITTED, VerdictModel, default_model, missing_claim_words


def test_shipped_weights_cover_the_fitted_features() -> None:
    model = default_model()
    assert model is not None and set(model.weights) == set(FITTED)
    assert 0.0 < model.probability({}) < 1.0


def test_probability_is_a_logistic_of_the_weighted_features(tmp_path: Path) -> None:
    model = VerdictModel({"min_support": 2.0, "cue_both": -1.0}, bias=-1.0)
    assert abs(model.probability({"min_support": 0.5}) - 0.5) < 1e-9
    assert model.probability({"min_support": 1.0}) > model.probability({"min_support": 0.5, "cue_both": 1.0})
    path = tmp_path / "w.json"
    model.save(path, note="test")
    assert VerdictModel.load(path) == model


def test_missing_claim_words_are_those_no_report_passage_contains() -> None:
    passage = Passage(id="a::0", article_id="a", text="Ferry fares in Portwick rose by 12 percent on Monday.",
                      position=0, start=0, end=53, title="Fares", source="Harbour Gazette", date="2023-10-03")
    e = Evidence(0, passage, passage.text, 0.8, claim="ferry fares fell sharply")
    assert missing_claim_words(e, [passage]) == ["fell", "sharply"]
