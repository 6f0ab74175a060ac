"""The answer registry: private to its user (0600), trusted only when it is, and never naming a dead process."""

from __future__ import annotations

import os
import subprocess
import sys

from articleqa.endpoint import REGISTRY, Endpoint, find, fingerprint, publish, withdraw, without_reference_date
from articleqa.settings import Settings


def test_registry_is_private_and_names_this_process(tmp_path):
    s = Settings(store_path=tmp_path, collection="t")
    os.umask(0o022)
    path = publish(tmp_path, Endpoint.new(4321, "fp", "daemon"))
    assert path == tmp_path / REGISTRY and path.stat().st_mode & 0o777 == 0o600
    found = find(s)
    assert found is not None and (found.pid, found.port, found.fingerprint) == (os.getpid(), 4321, "fp")
    assert len(found.token) >= 32


def test_world_readable_or_dead_registries_are_ignored(tmp_path):
    s = Settings(store_path=tmp_path, collection="t")
    path = publish(tmp_path, Endpoint.new(1, "fp", "daemon"))
    path.chmod(0o644)  # someone else could have read (or written) the token
    assert find(s) is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    publish(tmp_path, Endpoint(int(dead.stdout), 1, "t", "fp", "daemon"))
    assert find(s) is None


def test_withdraw_leaves_another_process_entry(tmp_path):
    publish(tmp_path, Endpoint(os.getpid() + 1, 1, "t", "fp", "daemon"))
    withdraw(tmp_path)
    assert (tmp_path / REGISTRY).exists()
    publish(tmp_path, Endpoint.new(1, "fp", "daemon"))
    withdraw(tmp_path)
    assert not (tmp_path / REGISTRY).exists()


def test_fingerprint_follows_answer_settings_not_the_chat_or_the_date(tmp_path):
    base = Settings(store_path=tmp_path, collection="t")
    assert fingerprint(base) == fingerprint(base.with_overrides(port=9999, ask_server_idle=5))
    assert fingerprint(base) != fingerprint(base.with_overrides(top_k=3))
    assert fingerprint(base) != fingerprint(base.with_overrides(collection="other"))
    dated = base.with_overrides(reference_date="2025-09-04")
    assert fingerprint(dated) != fingerprint(base)  # a chat started with a date answers no dateless client
    assert fingerprint(without_reference_date(dated)) == fingerprint(base)


def test_server_mode_has_no_registry(tmp_path):
    assert find(Settings(store_path=tmp_path, chroma_url="http://127.0.0.1:8000")) is None
