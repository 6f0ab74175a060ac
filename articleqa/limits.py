"""Wall-clock budgets for one input: a deadline that interrupts work running too long, in any thread that can."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class BudgetExceeded(Exception):
    """An input used up its wall-clock budget; the message names the budget (the caller names the input)."""


_local = threading.local()


def remaining() -> float | None:
    """Seconds left in the innermost active budget of this thread, or None when no budget is active."""
    deadline = getattr(_local, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()


def check(what: str = "") -> None:
    """Raise BudgetExceeded when the active budget is spent (the cooperative check for threads without signals)."""
    left = remaining()
    if left is not None and left <= 0:
        raise BudgetExceeded(getattr(_local, "label", "") or what or "time budget exceeded")


@contextmanager
def budget(seconds: float | None, label: str) -> Iterator[None]:
    """Run the block under a wall-clock budget.

    In the main thread a SIGALRM timer interrupts the block wherever it is (a blocking socket read, a Python loop),
    so one input can never hold a run for longer than its budget. In other threads (the chat's ingest worker) only
    the cooperative `check()` calls and socket timeouts bound it. Nested budgets keep the earliest deadline.

    Args:
        seconds: the budget; None or <= 0 means unlimited.
        label: the message of the BudgetExceeded raised, e.g. "took longer than input_budget 60 s".
    Raises:
        BudgetExceeded: when the budget runs out inside the block.
    """
    if not seconds or seconds <= 0:
        yield
        return
    outer_deadline = getattr(_local, "deadline", None)
    outer_label = getattr(_local, "label", "")
    deadline = time.monotonic() + seconds
    if outer_deadline is not None and outer_deadline <= deadline:
        yield  # the enclosing budget ends first and is already armed
        return
    _local.deadline, _local.label = deadline, label
    use_signal = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous = None
    if use_signal:

        def on_alarm(signum: int, frame: object) -> None:
            raise BudgetExceeded(label)

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if use_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
            if outer_deadline is not None:  # re-arm the enclosing budget for the time it has left
                signal.setitimer(signal.ITIMER_REAL, max(outer_deadline - time.monotonic(), 0.001))
        _local.deadline, _local.label = outer_deadline, outer_label
