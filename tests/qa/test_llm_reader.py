"""The LLM span reader with a fake chat model (the real one is measured in bench/, not in unit tests)."""

from __future__ import annotations

import math

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from articleqa.settings import Settings
from qa.llm_reader import LLMSpanReader, first_token_alternatives, locate, none_mass
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
    many = SENTS * 10
    for shown in (3, Settings().llm.span_sentences):
        reader = LLMSpanReader(Settings().with_overrides(llm_span_sentences=shown))
        system, user = (text for _, text in reader.messages("Who?", many))
        assert "shortest exact phrase" in system
        assert user.count("\n[") == 2 + shown  # two example sentences, then llm.span_sentences of the evidence


def test_a_near_verbatim_reply_is_mapped_to_the_exact_span() -> None:
    sents = [SentenceView("Netflix said the hit show “Squid Game” is coming back, U.S. officials said.", 0, None,
                          0.8, 0.6, 0.5, 0)]
    for reply, span in [('the Squid Game', "Squid Game"), ("squid  game!", "Squid Game"),
                        ("The hit show Squid Game", "the hit show “Squid Game”")]:
        s = locate(reply, sents)
        assert s is not None and s.text == span and s.sentence[s.start : s.end] == span
    assert locate("US officials", sents) is None  # "U.S." and "US" are different words: not forgiven
    assert locate("the Netflix show", sents) is None


def test_a_partial_name_is_completed_to_the_whole_name() -> None:
    from articleqa.text import nlp
    from qa.llm_reader import complete_name

    def read(sentence: str, reply: str) -> str:
        views = [SentenceView(sentence, 0, nlp()(sentence), 0.8, 0.6, 0.5, 0)]
        s = complete_name(locate(reply, views), views)
        assert s is not None and s.sentence[s.start : s.end] == s.text
        return s.text

    assert read("JetBlue Airways made a hostile bid for Spirit Airlines on Monday.", "JetBlue") == "JetBlue Airways"
    assert read("President Joe Biden tested positive for Covid-19 on Thursday.", "Biden") == "President Joe Biden"
    assert read("The price of gas hit a record $4.87 a gallon on Sunday.", "$4.87") == "$4.87"  # not a name
    assert read("Kansans voted to keep abortion rights in the state constitution.", "Kansans") == "Kansans"
    # never widened over a possessive, an opening parenthesis or a leading "the"
    assert read("Osama bin Laden's death was announced in May.", "Osama bin Laden") == "Osama bin Laden"
    assert read("The magazine Engineering News-Record (ENR) ranked it first.", "Engineering News-Record") == (
        "Engineering News-Record")
    assert read("The Colorado Avalanche won the Stanley Cup on Sunday.", "Avalanche") == "Colorado Avalanche"
    hall = "They met at the Great Hall of the People in central Beijing on Thursday."
    assert read(hall, "Beijing") == "Beijing"  # widening would add words that are not names: left alone


class _ScoredChat:
    """A fake OpenAI-style endpoint: replies `reply`, and with logprobs asked for, the first token's alternatives."""

    def __init__(self, reply: str, alternatives: dict[str, float]):
        self.reply, self.alternatives, self.kwargs = reply, alternatives, None

    def stream(self, prompt, **kwargs):
        from langchain_core.messages import AIMessageChunk

        self.kwargs = kwargs
        meta = {}
        if kwargs.get("logprobs"):
            top = [{"token": t, "logprob": math.log(p)} for t, p in self.alternatives.items()]
            meta = {"logprobs": {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"],
                                              "top_logprobs": top}]}}
        yield AIMessageChunk(content="", response_metadata={})  # the role chunk streamed endpoints send first
        yield AIMessageChunk(content=self.reply, response_metadata=meta)


def test_none_probability_is_the_first_tokens_mass_on_none() -> None:
    chat = _ScoredChat("Xi", {"Xi": 0.55, "NONE": 0.3, "None": 0.1, "N": 0.05})
    read = LLMSpanReader(Settings(), chat).run("Who accompanied Kim?", SENTS, none_prob=True)
    assert chat.kwargs == {"logprobs": True, "top_logprobs": 20}
    assert abs(read.none_prob - 0.4) < 1e-9  # "NONE" and "None"; "N" may start any name
    assert read.short is None  # "Xi" is in no sentence: the probability never makes a span
    plain = _ScoredChat("his sister Kim Yo Jong", {"his": 0.9, "NONE": 0.1})
    read = LLMSpanReader(Settings(), plain).run("Who accompanied Kim?", SENTS)
    assert plain.kwargs == {} and read.none_prob is None and read.short is not None  # not asked: not requested


def test_an_endpoint_without_logprobs_gives_no_probability() -> None:
    assert first_token_alternatives({}) is None and first_token_alternatives({"logprobs": None}) is None
    assert none_mass({"Kim": 0.9}) == 0.0
    read = _reader("his sister Kim Yo Jong").run("Who accompanied Kim?", SENTS, none_prob=True)
    assert read.none_prob is None and read.short is not None


@pytest.mark.slow
@pytest.mark.llm
def test_the_real_local_server_returns_the_first_token_alternatives() -> None:
    pytest.importorskip("xllamacpp")
    from qa.generative import make_chat_model
    from qa.local_llm import LocalLLMError, LocalLLMServer, packaged_model_path

    try:
        gguf = packaged_model_path("smollm2")  # the fast packaged model: this checks the route, not its accuracy
    except LocalLLMError as exc:
        pytest.skip(str(exc))
    settings = Settings(llm_timeout=60, llm_max_tokens=8, llm_context=2048)
    with LocalLLMServer(gguf, context=settings.llm.context) as server:
        read = LLMSpanReader(settings, make_chat_model(settings, server.base_url)).run(
            "Who accompanied Kim?", SENTS, none_prob=True)
    assert read.none_prob is not None and 0.0 <= read.none_prob <= 1.0


def test_malformed_logprobs_are_ignored_not_raised() -> None:
    def top(*alts: dict) -> dict:
        return {"logprobs": {"content": [{"top_logprobs": list(alts)}]}}

    for bad in ({"logprobs": "x"}, {"logprobs": {"content": ["x"]}}, top({"token": "NONE", "logprob": "abc"}),
                top({"token": "NONE"})):
        assert first_token_alternatives(bad) is None
    nan = top({"token": "NONE", "logprob": float("nan")}, {"token": "Kim", "logprob": 0.5})
    assert first_token_alternatives(nan) == {"Kim": 1.0}  # a positive log-probability is capped at probability 1
