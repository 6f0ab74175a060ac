"""The app's HTTP API through gradio_client: ingest, ask (with history and refusals), list, delete, bind safety."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.app.conftest import REPO, free_port, server_env

pytestmark = pytest.mark.slow

SEED_QUESTION = "Who accompanied Kim?"


def test_seed_ingested_through_api(app_server):
    report = app_server.seed_report
    assert report["ok"] is True
    assert report["counts"]["added"] == 1
    assert report["items"][0]["origin"].endswith("xi-kim-beijing-2025-09-04.txt")  # named as uploaded


def test_ask_returns_cited_answer(app_server):
    result = app_server.client().predict(question=SEED_QUESTION, api_name="/ask")
    assert result["refused"] is False
    assert "Kim Yo Jong" in result["answer"]
    assert result["citations"], "an answer must carry citations"
    for c in result["citations"]:
        assert c["quote"] and f"[{c['number']}]" in result["answer"]
        a, b = c["start"] - c["passage_start"], c["end"] - c["passage_start"]
        assert c["passage_text"][a:b] == c["quote"]
    assert set(result) >= {"question", "short_answer", "passages", "rewritten_query", "mode", "timings"}


def test_follow_up_uses_history(app_server):
    client = app_server.client()
    first = client.predict(question=SEED_QUESTION, api_name="/ask")
    history = json.dumps([[SEED_QUESTION, first["answer"]]])
    result = client.predict(question="How did he travel to Beijing?", history=history, api_name="/ask")
    assert result["refused"] is False
    assert "Kim" in result["rewritten_query"]
    assert "train" in result["answer"]


def test_refused_question(app_server):
    result = app_server.client().predict(question="What is the capital of Peru?", api_name="/ask")
    assert result["refused"] is True
    assert result["citations"] == []
    assert result["refusal_reason"]


def test_invalid_date_is_a_clear_error(app_server):
    with pytest.raises(AppError, match="YYYY-MM-DD"):
        app_server.client().predict(question=SEED_QUESTION, since="2025-13-01", api_name="/ask")


def test_list_and_delete_articles(app_server, tmp_path):
    client = app_server.client()
    path = tmp_path / "harbour-notes.md"
    path.write_text(
        "# Harbour council approves ferry timetable\n\n"
        "The Lisbon harbour council approved a new night ferry timetable on Monday, officials said.\n\n"
        "Councillor Ana Ribeiro said the first night ferry would sail on 3 November.\n"
    )
    report = client.predict(files=[handle_file(str(path))], urls="", api_name="/ingest")
    assert report["counts"]["added"] == 1, report
    new_id = report["items"][0]["article_id"]

    rows = client.predict(title_contains="ferry", api_name="/list_articles")
    assert [r["id"] for r in rows] == [new_id]
    assert rows[0]["title"] == "Harbour council approves ferry timetable"
    assert len(client.predict(api_name="/list_articles")) == 2  # the seed too

    assert client.predict(ids=[new_id], api_name="/delete_articles") == {new_id: True}
    assert client.predict(title_contains="ferry", api_name="/list_articles") == []
    assert client.predict(ids=[new_id], api_name="/delete_articles") == {new_id: False}


def test_bad_upload_changes_nothing(app_server, tmp_path):
    client = app_server.client()
    before = client.predict(api_name="/list_articles")
    good, bad = tmp_path / "fine.txt", tmp_path / "payload.exe"
    good.write_text("A perfectly fine article about harbour ferries, said officials on Monday.\n")
    bad.write_bytes(b"MZ\x90\x00")
    with pytest.raises(AppError, match="payload.exe: unsupported file type"):
        client.predict(files=[handle_file(str(good)), handle_file(str(bad))], urls="", api_name="/ingest")
    with pytest.raises(AppError, match="not an http"):
        client.predict(files=[], urls="javascript:alert(1)", api_name="/ingest")
    assert client.predict(api_name="/list_articles") == before


def test_non_local_bind_without_auth_refuses_to_start(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "--host", "0.0.0.0", "--port", str(free_port()),
         "--store", str(tmp_path / "store")],
        cwd=REPO, env=server_env(), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to bind 0.0.0.0 without a login"), proc.stderr
    assert not (tmp_path / "store").exists()  # refused before touching anything


def test_bind_rules():
    from app import bind_error

    assert bind_error("127.0.0.1", None, None, False) == ""
    assert bind_error("localhost", None, None, False) == ""
    assert bind_error("0.0.0.0", "editor", "secret", False) == ""
    assert bind_error("0.0.0.0", None, None, True) == ""
    assert bind_error("0.0.0.0", "editor", None, False)
    assert bind_error("192.168.1.5", None, None, False)


def test_untrusted_text_is_inert():
    from app import answer_markdown, escape_text, history_pairs, safe_url

    shown = escape_text("<script>alert(1)</script> <img src=x onerror=alert(1)> [click](javascript:alert(1))")
    assert "<" not in shown and "[" not in shown and "(" not in shown
    assert answer_markdown("It rained <b>x</b> [1].").endswith('<a class="aqa-cite" href="#src-1" '
                                                              'title="Show source 1">[1]</a>.')
    assert safe_url("javascript:alert(1)") == "" and safe_url("https://example.com/a") == "https://example.com/a"
    messages = [{"role": "user", "content": [{"type": "text", "text": "Q1"}]},
                {"role": "assistant", "content": "A1", "metadata": {}},
                {"role": "assistant", "content": "sources", "metadata": {"title": "Sources"}}]
    assert history_pairs(json.dumps(messages)) == [("Q1", "A1")]
    assert history_pairs('[["Q", "A"]]') == [("Q", "A")]
