"""The LLM span reader with a fake chat model (the real one is measured in bench/, not in unit tests)."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from articleqa.settings import Settings
from qa.llm_reader import MAX_SENTENCES, LLMSpanReader, locate
from qa.reader_features import SentenceView

SENTS = [
    SentenceView("Those accompanying him included his sister Kim Yo Jong, a ruling Workers' Party official.", 1, None,
                 0.8, 0.6, 0.5, 0),
    SentenceView("Kim arrived in Beijing on his signature green armoured train on Tuesday.", 0, None, 0.7, 0.5, 0.4, 1),
]


def _reader(reply: str) -> LLMSpanReader:
    return LLMSpanReader(Settings(), GenericFakeChatModel(messages=iter([AIMessage(content=reply)])))


def test_a_copied_span_is_accepted_with_its_offsets() -> None:
    read = _reader("his sister Kim Yo Jong").run("Who accompanied Kim?", SENTS)
    s = read.short
    assert s is not None and s.passage == 1
    assert s.sentence[s.start : s.end] == s.text == "his sister Kim Yo Jong"


def test_casing_quotes_and_a_trailing_full_stop_are_forgiven() -> None:
    s = locate('"Green armoured train."', SENTS)
    assert s is not None and s.text == "green armoured train" and s.passage == 0


def test_invented_or_none_replies_are_refused() -> None:
    assert _reader("his brother Kim Jong Chul").run("Who accompanied Kim?", SENTS).short is None
    assert _reader("NONE").run("Who accompanied Kim?", SENTS).short is None
    assert locate("", SENTS) is None


def test_prompt_holds_only_the_evidence_sentences() -> None:
    many = SENTS * 5
    system, user = (text for _, text in LLMSpanReader(Settings()).messages("Who?", many))
    assert "shortest exact phrase" in system
    assert user.count("\n[") == 2 + MAX_SENTENCES  # two example sentences, then at most MAX_SENTENCES


def test_a_near_verbatim_reply_is_mapped_to_the_exact_span() -> None:
    sents = [SentenceView("Netflix said the hit show “Squid Game” is coming back, U.S. officials said.", 0, None,
                          0.8, 0.6, 0.5, 0)]
    for reply, span in [('the Squid Game', "Squid Game"), ("squid  game!", "Squid Game"),
                        ("The hit show Squid Game", "the hit show “Squid Game”")]:
        s = locate(reply, sents)
        assert s is not None and s.text == span and s.sentence[s.start : s.end] == span
    assert locate("US officials", sents) is None  # "U.S." and "US" are different words: not forgiven
    assert locate("the Netflix show", sents) is None
