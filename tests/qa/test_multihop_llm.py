"""The LLM route for multi-article questions, over a real store with a fake chat model: accept, reject, fall back."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from articleqa.models import Passage
from evaluation.metrics import invalid_citations
from qa.ask import Asker, Request
from qa.multihop_llm import INSUFFICIENT, PER_SOURCE, Shown, verify
from tests.qa import test_multihop

COMPARE = ("Do the Harbour Gazette article on ferry fares and the Valley Times report on bus fares both say that "
           "fares rose?")
WHICH = "Which company, reported by both the Harbour Gazette and the Valley Times, raised its prices?"
asker = test_multihop.asker  # the same three-article store (a fixture of this module too)


class Recorder:
    """A chat model that replies `reply` and keeps the prompts it was sent."""

    def __init__(self, reply: str):
        self.reply = reply
        self.prompts: list = []

    def stream(self, prompt):
        self.prompts.append(prompt)
        return GenericFakeChatModel(messages=iter([AIMessage(content=self.reply)])).stream(prompt)


def _ask(asker: Asker, question: str, reply: str) -> tuple:
    model = Recorder(reply)
    asker.answerers.multihop_llm.chat_model = model
    return asker.ask(Request(question, mode="llm")), model


def _shown() -> list[Shown]:
    def passage(name: str, source: str, date: str) -> Passage:
        return Passage(id=f"{name}:0", article_id=name, text="", position=0, start=0, end=0, source=source, date=date)

    gaz, val = passage("g", "Harbour Gazette", "2023-10-03"), passage("v", "Valley Times", "2023-11-20")
    return [Shown("Ferry fares rose by 12 percent, Bluewave Ferries said.", gaz, 0),
            Shown("The council will review the contract.", gaz, 0),
            Shown("Bus fares rose by 8 percent this week.", val, 1)]


def test_a_verdict_with_its_numbers_is_accepted_and_every_report_is_cited() -> None:
    got = verify("Yes [1]", "yes_no", _shown())
    assert got.outcome == "accepted" and got.answer == "Yes"
    assert [s.step for s in got.cited] == [0, 1]  # the Valley Times' best sentence joins: the verdict is about both
    assert verify("Answer: no.", "yes_no", _shown()).answer == "No"


def test_an_entity_must_be_a_verbatim_span_of_a_sentence() -> None:
    got = verify("bluewave ferries [1]", "name", _shown())
    assert got.outcome == "accepted" and got.answer == "Bluewave Ferries"  # as written in the sentence
    assert [s.sentence for s in got.cited] == [_shown()[0].sentence]
    assert verify("Seaways Ltd", "name", _shown()).outcome == "rejected"  # invented: in no sentence
    assert verify("Yes", "name", _shown()).outcome == "rejected"


def test_other_replies_are_rejected_or_refused() -> None:
    assert verify("Insufficient information.", "yes_no", _shown()).outcome == "insufficient"
    assert verify("Yes, both reports say fares rose.", "yes_no", _shown()).outcome == "rejected"
    assert verify("Yes [7]", "yes_no", _shown()).outcome == "rejected"  # a sentence it was never shown
    assert verify("", "yes_no", _shown()).outcome == "rejected"
    assert verify("Before", "yes_no", _shown()).outcome == "rejected"


def test_the_prompt_holds_each_reports_best_sentences_with_publisher_and_date(asker: Asker) -> None:
    answer, model = _ask(asker, COMPARE, "No [1][2]")
    human = model.prompts[0][1][1]
    sentences = human.split("Sentences:\n", 1)[1].split("\nQuestion:")[0].splitlines()
    assert 2 <= len(sentences) <= 2 * PER_SOURCE
    assert any(s.startswith("[1] Harbour Gazette, 2023-10-03: ") for s in sentences)
    assert any("Valley Times, 2023-11-20: " in s for s in sentences)
    assert COMPARE in human and '"Yes" or "No"' in human and INSUFFICIENT in human
    assert "Bluewave" not in model.prompts[0][0][1]  # the rules carry no article text


def test_llm_mode_takes_the_llms_verdict_with_checked_citations(asker: Asker) -> None:
    answer, _ = _ask(asker, COMPARE, "No [1][2]")  # the extractive code says "Yes": the LLM's verdict is used
    assert answer.mode == "llm" and answer.short_answer == "No" and answer.answer.startswith("No: the LLM's answer")
    assert {c.source for c in answer.citations} == {"Harbour Gazette", "Valley Times"}
    assert invalid_citations(answer) == [] and "generate" in answer.timings


def test_llm_entity_answer(asker: Asker) -> None:
    answer, _ = _ask(asker, WHICH, "bluewave ferries")
    assert answer.mode == "llm" and answer.short_answer == "Bluewave Ferries"
    assert all("Bluewave Ferries" in c.quote for c in answer.citations) and invalid_citations(answer) == []


def test_insufficient_is_the_standard_refusal(asker: Asker) -> None:
    answer, _ = _ask(asker, COMPARE, "Insufficient information")
    assert answer.refused and answer.mode == "llm" and "do not give enough information" in answer.refusal_reason


def test_an_unusable_reply_falls_back_to_the_extractive_answer(asker: Asker) -> None:
    extractive = asker.ask(Request(COMPARE, mode="extractive"))
    answer, _ = _ask(asker, COMPARE, "Both reports say fares went up.")
    assert answer.mode == "multihop" and answer.short_answer == extractive.short_answer == "Yes"
    assert answer.answer == extractive.answer and any("multi-article answer" in n for n in answer.notices)
    invented, _ = _ask(asker, WHICH, "Seaways Ltd")
    assert invented.mode == "multihop" and invented.short_answer == "Bluewave Ferries"


def test_missing_evidence_is_refused_without_asking_the_llm(asker: Asker) -> None:
    answer, model = _ask(asker, "Did the Harbour Gazette and a Northwind Courier article both report the fare rise?",
                         "Yes")
    assert answer.refused and "Northwind Courier" in answer.refusal_reason and model.prompts == []


def test_extractive_mode_never_asks_the_llm(asker: Asker) -> None:
    model = Recorder("No")
    asker.answerers.multihop_llm.chat_model = model
    answer = asker.ask(Request(COMPARE, mode="extractive"))
    assert answer.mode == "multihop" and answer.short_answer == "Yes" and model.prompts == []


@pytest.mark.slow
@pytest.mark.llm
def test_real_local_model_answers_or_falls_back_with_valid_citations(asker: Asker) -> None:
    pytest.importorskip("xllamacpp")
    from qa.generative import make_chat_model
    from qa.local_llm import LocalLLMError, LocalLLMServer, packaged_model_path
    from qa.multihop_llm import REPLY_TOKENS

    try:
        gguf = packaged_model_path("smollm2")  # the fast packaged model: this checks the route, not its accuracy
    except LocalLLMError as exc:
        pytest.skip(str(exc))
    settings = asker.settings.with_overrides(llm_timeout=60, llm_max_tokens=REPLY_TOKENS)
    component = asker.answerers.multihop_llm
    with LocalLLMServer(gguf, context=2048) as server:
        component.chat_model = make_chat_model(settings, server.base_url)
        answers = [asker.ask(Request(q, mode="llm")) for q in (COMPARE, WHICH)]
    for a in answers:
        assert a.mode in {"llm", "multihop"} and invalid_citations(a) == []
        assert a.refused or (a.short_answer and a.citations)
        assert a.mode == "llm" or a.refused or any("multi-article answer" in n for n in a.notices)
