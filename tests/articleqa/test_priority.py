"""run_low_priority: the work runs in its own thread at a lower priority, with the caller's context and errors."""

from __future__ import annotations

import contextvars
import os
import sys
import threading

import pytest

from articleqa.priority import run_low_priority

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux behaviour")
REQUEST = contextvars.ContextVar("request", default="none")


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux
def test_work_runs_lowered_in_another_thread_and_the_caller_keeps_its_priority():
    before = _nice()
    seen = run_low_priority(lambda: (threading.get_native_id(), _nice()), 5)
    assert seen[0] != threading.get_native_id()
    assert seen[1] == min(19, before + 5)
    assert _nice() == before


def test_result_context_and_errors_reach_the_caller():
    REQUEST.set("event-42")
    assert run_low_priority(REQUEST.get, 3) == "event-42"

    def fail() -> None:
        raise ValueError("bad input: page.html")

    with pytest.raises(ValueError, match="page.html"):
        run_low_priority(fail, 3)


@linux
def test_zero_increment_leaves_the_priority_alone():
    assert run_low_priority(_nice, 0) == _nice()
