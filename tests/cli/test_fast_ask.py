"""The fast `ask` path's parser: it takes only what the full command would parse the same way, and defers the rest."""

from __future__ import annotations

import pytest

from cli.fast_ask import client_key, parse


def test_plain_questions_and_known_options_are_taken():
    assert parse(["Who accompanied Kim?"]) == {"json": False, "question": "Who accompanied Kim?"}
    got = parse(["--json", "Who?", "--source", "Japan Today", "--since=2025-09-01", "--store", "db/",
                 "--reference-date", "2025-09-05", "--collection", "news"])
    assert got == {"json": True, "question": "Who?", "source": "Japan Today", "since": "2025-09-01", "store": "db/",
                   "reference_date": "2025-09-05", "collection": "news"}
    assert parse(["--", "-5 degrees?"]) == {"json": False, "question": "-5 degrees?"}


@pytest.mark.parametrize("args", [
    [], ["--help"], ["Who?", "--local"], ["Who?", "--mode", "llm"], ["Who?", "--mode=extractive"],
    ["Who?", "--llm-url", "http://x"], ["Who?", "--chroma-url", "http://x"], ["Who?", "--debug"],
    ["Who?", "What?"], ["Who?", "--source"], ["Who?", "--reference-date", "yesterday"], ["Who?", "--since", "2025"],
    ["-x"], ["Who?", "--json=1"],
])
def test_anything_else_is_left_to_the_full_command(args):
    assert parse(args) is None


def test_the_key_changes_with_the_context_that_shapes_the_settings(monkeypatch):
    env = {"ARTICLEQA_COLLECTION": "a", "HOME": "/x"}
    base = client_key(env, "db", None)
    assert client_key({**env, "HOME": "/y"}, "db", None) == base  # not an articleqa setting
    assert client_key(env, "db/", None) == base  # Typer's Path makes these the same store
    assert client_key({**env, "ARTICLEQA_ANSWER_MODE": "llm"}, "db", None) != base
    assert client_key(env, "other", None) != base
    assert client_key(env, "db", "news") != base
    monkeypatch.chdir("/")
    assert client_key(env, "db", None) != base  # a relative store means another folder
