"""One error path for every command: usage errors and unexpected failures are one line, --json is valid JSON on
every exit, --debug shows the traceback, and a Chroma server dying mid-ingest still gets a JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from cli.guard import run
from cli.main import app
from tests.conftest import REPO, make_article


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = run(app, args)
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_reference_date_is_a_usage_error(capsys, tmp_path):
    code, out, err = _run(["ask", "What happened last week?", "--reference-date", "yesterday", "--json",
                           "--store", str(tmp_path / "s")], capsys)
    assert code == 2 and "Traceback" not in err
    assert json.loads(out) == {"ok": False, "exit_code": 2,
                               "error": "--reference-date 'yesterday': expected a date like 2025-09-04"}


def test_bad_setting_in_the_environment_names_the_variable(capsys, monkeypatch):
    monkeypatch.setenv("ARTICLEQA_REFERENCE_DATE", "next thursday")
    code, _, err = _run(["articles", "list"], capsys)
    assert code == 2 and err.count("\n") == 1 and "ARTICLEQA_REFERENCE_DATE" in err and "Traceback" not in err


def test_unknown_option_under_json_prints_json(capsys):
    code, out, _ = _run(["ingest", "x", "--bogus", "--json"], capsys)
    assert code == 2 and "No such option" in json.loads(out)["error"]


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(capsys, monkeypatch, tmp_path):
    import articleqa.catalog as catalog

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(catalog, "list_articles", broken)  # fault injection: a bug deep in a command
    args = ["articles", "list", "--json", "--store", str(tmp_path / "s")]
    code, out, err = _run(args, capsys)
    assert code == 2 and err.count("\n") == 1 and "articleqa articles: RuntimeError: boom second line" in err
    assert "--debug" in err and "Traceback" not in err
    assert json.loads(out)["ok"] is False
    code, _, err = _run([*args, "--debug"], capsys)
    assert code == 2 and "Traceback" in err


def test_empty_input_argument_fails_alone(capsys, tmp_path):
    code, out, err = _run(["ingest", "", "--json", "--store", str(tmp_path / "s")], capsys)
    report = json.loads(out)
    assert code == 1 and report["counts"]["failed"] == 1 and "empty input" in report["items"][0]["reason"]


@pytest.mark.slow
def test_questions_that_are_not_text_get_clean_answers(tmp_path):
    env = {**os.environ, "ARTICLEQA_STORE_PATH": str(tmp_path / "s")}
    for question, codes in (("mayor \udcff?", (0, 3)), ("<script>alert(1)</script>", (3,))):
        got = subprocess.run([sys.executable, "-m", "articleqa", "ask", question, "--json"], cwd=REPO, env=env,
                             capture_output=True, timeout=300)
        assert got.returncode in codes and b"Traceback" not in got.stderr, got.stderr
        answer = json.loads(got.stdout)
        if "script" in question:
            assert answer["refused"] and "only markup" in answer["answer"]


@pytest.mark.slow
def test_json_summary_when_the_server_dies_mid_ingest(own_chroma_server, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    # Enough articles that no machine finishes before the kill, which comes once some are stored.
    corpus.write_text("\n".join(json.dumps(make_article(i)) for i in range(1500)) + "\n")
    env = {**os.environ, "ARTICLEQA_CHROMA_URL": own_chroma_server.url, "ARTICLEQA_COLLECTION": "guard",
           "ARTICLEQA_CACHE_DIR": str(tmp_path / "cache"), "ARTICLEQA_CHROMA_RETRIES": "0",
           "ARTICLEQA_EMBED_BATCH_SIZE": "8"}
    proc = subprocess.Popen([sys.executable, "-m", "articleqa", "ingest", str(corpus), "--json"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert _wait_for_records(own_chroma_server.port, deadline=time.monotonic() + 300), "nothing was stored"
    own_chroma_server.kill()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode in (1, 2), err
    data = json.loads(out)  # valid JSON whatever happened
    assert data["ok"] is False
    assert "Traceback" not in err


def _wait_for_records(port: int, deadline: float) -> bool:
    """True once the server holds at least one record in any collection (polled, so the kill lands mid-ingest)."""
    import chromadb

    client = chromadb.HttpClient(host="127.0.0.1", port=port,
                                 settings=chromadb.config.Settings(anonymized_telemetry=False))
    while time.monotonic() < deadline:
        try:
            if any(col.count() for col in client.list_collections()):
                return True
        except Exception:  # noqa: BLE001 - the server may still be creating the collection
            pass
        time.sleep(0.2)
    return False


# --- careless commands and noisy libraries (bench/hostile_battery.py) ---------------------------------------------


def test_an_empty_store_option_is_refused_not_the_current_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["articles", "list", "--store", "", "--json"], capsys)
    assert code == 2 and "--store" in json.loads(out)["error"] and "is empty" in json.loads(out)["error"]
    assert list(tmp_path.iterdir()) == []  # no store made in the working folder


def test_library_warnings_and_long_messages_stay_off_the_terminal(capsys, tmp_path):
    """pypdf logs "EOF marker not found" before the loader reports the PDF as corrupt: the user sees one line."""
    (tmp_path / "half.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    code, out, err = _run(["ingest", str(tmp_path / "half.pdf"), "--json", "--store", str(tmp_path / "s")], capsys)
    lines = err.strip().split("\n")
    assert code == 1 and len(lines) == 2, err
    assert lines[0].startswith(f"error: {tmp_path / 'half.pdf'}: corrupt PDF") and "EOF marker" not in err
    assert lines[1].startswith("0 added") and lines[1].endswith("/s)")  # the summary is one line, never wrapped
    code, out, err = _run(["articles", "list", "--collection", "c" * 5000, "--store", str(tmp_path / "s")], capsys)
    assert code == 2 and err.count("\n") == 1 and len(err) < 800


def test_records_that_all_fail_are_counted_past_max_bad_lines(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTICLEQA_MAX_BAD_LINES", "4")
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps({"id": f"t{i}", "text": "Too short."}) + "\n"
                                                 for i in range(30)))
    code, out, err = _run(["ingest", str(tmp_path / "tiny.jsonl"), "--json", "--store", str(tmp_path / "s")],
                          capsys)
    report = json.loads(out)
    assert code == 1 and report["counts"]["failed"] == 30
    assert err.count("\n") == 4 + 1 + 1, err  # four lines, one count, the summary
    assert "26 more records failed (not shown; max_bad_lines 4)" in err
