"""A store its user cannot write (chmod, run as `nobody`): questions are answered and articles listed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO, SEED

pytestmark = pytest.mark.slow


def _as_nobody(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "articleqa", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def open_folder():
    """A folder `nobody` can reach (pytest's tmp_path sits below a folder only root may enter)."""
    folder = Path(tempfile.mkdtemp(prefix="articleqa-ro-"))
    folder.chmod(0o755)
    yield folder
    subprocess.run(["chmod", "-R", "u+w", str(folder)], check=False)
    shutil.rmtree(folder, ignore_errors=True)


def test_read_only_store_answers_and_lists(open_folder):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the commands as the unprivileged user nobody")
    tmp_path = open_folder
    env = {**os.environ, "ARTICLEQA_STORE_PATH": str(tmp_path / "store"), "ARTICLEQA_COLLECTION": "readonly",
           "HOME": str(tmp_path)}
    got = subprocess.run([sys.executable, "-m", "articleqa", "ingest", str(SEED), "--quiet"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert got.returncode == 0, got.stderr
    subprocess.run(["chmod", "-R", "a-w,a+rX", str(tmp_path / "store")], check=True)
    probe = _as_nobody(["--help"], env)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this checkout's Python: {probe.stderr.strip()[-200:]}")
    listed = _as_nobody(["articles", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert [a["title"] for a in json.loads(listed.stdout)] == [
        "China's Xi seeks closer coordination with North Korea in meeting with Kim"]
    asked = _as_nobody(["ask", "Who accompanied Kim?"], env)
    assert asked.returncode == 0 and "Kim Yo Jong" in asked.stdout, asked.stderr
    refused = _as_nobody(["ingest", str(SEED)], env)
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert refused.returncode == 2 and len(lines) == 1 and "not writable" in lines[0], refused.stderr
