"""Questions about several articles over a real store: per-report retrieval, verdicts, shared entities, refusals."""

from __future__ import annotations

import json

import pytest

from evaluation.metrics import invalid_citations
from ingest.pipeline import Ingestor
from qa.ask import Asker

ARTICLES = [
    {"id": "gaz-1", "source": "Harbour Gazette", "publish_date": "2023-10-03", "title": "Ferry fares rise again",
     "text": "Ferry fares in Portwick rose by 12 percent on Monday, the operator Bluewave Ferries said.\n"
             "Commuters complained that Bluewave Ferries had raised prices twice this year.\n"
             "The council said it would review the contract in the spring."},
    {"id": "val-1", "source": "Valley Times", "publish_date": "2023-11-20", "title": "Bus fares climb in the valley",
     "text": "Bus fares in the valley rose by 8 percent this week after fuel costs climbed, the transit authority "
             "said.\nBluewave Ferries, which also runs the valley buses, blamed the higher fuel prices.\n"
             "Passenger groups asked for a freeze on fares next year."},
    {"id": "gaz-2", "source": "Harbour Gazette", "publish_date": "2023-09-12", "title": "Harbour festival returns",
     "text": "The harbour festival returned on Saturday with boat races and music.\n"
             "Organisers said twenty thousand visitors came to the waterfront."},
]


@pytest.fixture(scope="module")
def asker(tmp_path_factory, embedder):
    from articleqa.settings import Settings

    folder = tmp_path_factory.mktemp("multihop")
    corpus = folder / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(a) for a in ARTICLES) + "\n")
    settings = Settings(store_path=folder / "store", collection="multihop")
    assert Ingestor(settings, embedder=embedder).run([str(corpus)]).counts()["added"] == 3
    return Asker(settings)


def test_comparison_yes_cites_one_sentence_per_report_with_dates(asker: Asker) -> None:
    a = asker.ask("Do the Harbour Gazette article on ferry fares and the Valley Times report on bus fares both "
                  "say that fares rose?")
    assert not a.refused and a.mode == "multihop" and a.short_answer == "Yes"
    assert a.answer.startswith("Yes")
    assert {c.source for c in a.citations} == {"Harbour Gazette", "Valley Times"}
    assert "3 October 2023" in a.answer and "20 November 2023" in a.answer
    assert invalid_citations(a) == []
    assert a.plan["multi_article"] and len(a.plan["steps"]) == 2


def test_which_entity_is_the_one_both_reports_name(asker: Asker) -> None:
    a = asker.ask("Which company, reported by both the Harbour Gazette and the Valley Times, raised its prices?")
    assert not a.refused and a.short_answer == "Bluewave Ferries"
    assert len({c.article_id for c in a.citations}) == 2 and invalid_citations(a) == []


def test_publication_without_articles_is_refused_naming_it(asker: Asker) -> None:
    a = asker.ask("Did the Harbour Gazette and a Northwind Courier article both report the fare rise?")
    assert a.refused and "Northwind Courier" in a.refusal_reason
    assert "do not give enough information" in a.refusal_reason


def test_eval_retrieval_for_a_plan_represents_every_named_source(asker: Asker) -> None:
    from qa.ask import Request

    q = "Do the Harbour Gazette article on ferry fares and the Valley Times report on bus fares both say so?"
    _, retrieval, _ = asker.retrieve(Request(q), q, k=4)
    assert {p.source for p in retrieval.passages[:2]} == {"Harbour Gazette", "Valley Times"}


def test_single_article_questions_take_the_usual_path(asker: Asker) -> None:
    a = asker.ask("How many visitors came to the harbour festival?")
    assert a.mode == "extractive" and not a.plan
