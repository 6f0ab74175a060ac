"""Settings: groups, nested and flat environment names, flat keyword names, overrides that validate."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from articleqa.settings import FLAT, GROUPS, Settings


def test_defaults_are_grouped():
    s = Settings()
    assert s.store.path == Path("chroma_db") and s.retrieval.top_k == 5 and s.answer.mode == "extractive"
    assert s.resolved_cache_dir() == Path("chroma_db") / ".articleqa-cache"


def test_flat_and_nested_environment_names(monkeypatch):
    monkeypatch.setenv("ARTICLEQA_STORE_PATH", "/tmp/flat")
    monkeypatch.setenv("ARTICLEQA_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv("ARTICLEQA_CONCURRENCY", "2")
    monkeypatch.setenv("ARTICLEQA_RETRIEVAL__TOP_K", "9")
    monkeypatch.setenv("ARTICLEQA_INCLUDE", '["*.html"]')
    s = Settings()
    assert s.store.path == Path("/tmp/flat") and s.llm.base_url == "http://127.0.0.1:11434/v1"
    assert s.chat.concurrency == 2 and s.retrieval.top_k == 9 and s.ingest.include == ["*.html"]


def test_nested_name_wins_over_flat(monkeypatch):
    monkeypatch.setenv("ARTICLEQA_TOP_K", "3")
    monkeypatch.setenv("ARTICLEQA_RETRIEVAL__TOP_K", "7")
    assert Settings().retrieval.top_k == 7


def test_keywords_beat_the_environment_and_take_flat_names(monkeypatch):
    monkeypatch.setenv("ARTICLEQA_COLLECTION", "from-env")
    s = Settings(collection="kw", llm_timeout=3.0, retrieval={"candidates": 10})
    assert s.store.collection == "kw" and s.llm.timeout == 3.0 and s.retrieval.candidates == 10


def test_with_overrides_skips_none_validates_and_copies():
    s = Settings()
    t = s.with_overrides(store_path="/tmp/x", top_k=None, mode="llm")
    assert t.store.path == Path("/tmp/x") and t.retrieval.top_k == 5 and t.answer.mode == "llm"
    assert s.store.path == Path("chroma_db") and s.answer.mode == "extractive"  # the original is untouched
    with pytest.raises(ValidationError):
        s.with_overrides(mode="poetry")
    with pytest.raises(TypeError):
        s.with_overrides(no_such_setting=1)


def test_every_field_has_one_flat_name_and_a_description():
    assert len(FLAT) == sum(len(m.model_fields) for m in GROUPS.values())
    for model in GROUPS.values():
        assert all(f.description for f in model.model_fields.values())


# --- hostile values (bench/hostile_battery.py): every limit validated, every error naming its variable ----------


@pytest.mark.parametrize(("name", "value"), [
    ("INPUT_BUDGET", "nan"), ("MAX_FILE_MB", "inf"), ("READ_WAIT", "-5"), ("TOP_K", "0"), ("HTTP_TIMEOUT", "0"),
    ("CHUNK_SIZE", "-5"), ("MAX_HTML_ELEMENTS", "0"), ("MAX_FEED_ENTRIES", "-1"), ("PORT", "70000"),
])
def test_a_limit_out_of_range_is_refused_naming_it(monkeypatch, name, value):
    monkeypatch.setenv(f"ARTICLEQA_{name}", value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name.lower() in str(info.value)


def test_an_empty_or_file_store_path_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("ARTICLEQA_STORE_PATH", "")
    with pytest.raises(ValidationError, match="is empty"):
        Settings()
    monkeypatch.delenv("ARTICLEQA_STORE_PATH")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValidationError, match="is a file"):
        Settings(store_path=tmp_path / "f")


def test_override_errors_name_the_group_and_field():
    with pytest.raises(ValidationError) as info:
        Settings().with_overrides(chunk_size=-5)
    assert info.value.errors()[0]["loc"] == ("ingest", "chunk_size")


def test_an_unreadable_list_variable_names_itself(monkeypatch):
    from articleqa.settings import SettingsError

    monkeypatch.setenv("ARTICLEQA_INCLUDE", "[broken")
    with pytest.raises(SettingsError, match="ARTICLEQA_INCLUDE"):
        Settings()


def test_range_checks_sit_on_numbers_only(monkeypatch):
    """A bound on a text field rejects all its values (ARTICLEQA_EMBEDDING_URL once failed: "constraint 'ge'")."""
    from annotated_types import Ge, Gt, Le, Lt

    from articleqa.settings import GROUPS, Settings

    misplaced = [(group, name) for group, model in GROUPS.items() for name, f in model.model_fields.items()
                 if any(isinstance(c, (Ge, Gt, Le, Lt)) for c in f.metadata)
                 and f.annotation not in (int, float, int | None, float | None)]
    assert misplaced == []
    monkeypatch.setenv("ARTICLEQA_EMBEDDING_URL", "http://127.0.0.1:8081/v1")
    assert Settings().embedding.url == "http://127.0.0.1:8081/v1"
