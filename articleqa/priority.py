"""Run batch work started by the chat (an ingest) in its own thread at a lower CPU priority than the answers."""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def lower_this_thread(increment: int) -> bool:
    """Raise the calling thread's nice value by `increment` (Linux only, where nice is per thread).

    Returns:
        Whether the priority was lowered. Lowering never needs privileges; raising it back would, which is why
        callers run the work in a thread of its own that ends with it.
    """
    if increment <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
    except OSError:
        return False
    return True


def run_low_priority(fn: Callable[[], T], increment: int, name: str = "articleqa-batch") -> T:
    """Call `fn` in a new thread whose nice value is raised by `increment`, wait for it and return its result.

    The caller's context variables go along (Gradio finds its progress bar through them), and an exception from
    `fn` is raised here. Threads the work starts (torch's OpenMP workers) inherit the lowered priority.
    """
    ctx = contextvars.copy_context()
    outcome: dict[str, object] = {}

    def target() -> None:
        lower_this_thread(increment)
        try:
            outcome["value"] = ctx.run(fn)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who decides
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


class PriorityThread:
    """One long-lived thread, started now at this thread's priority plus `increment`, that runs the calls given to it.

    Why: `articleqa ingest` runs at a low priority so questions win the CPU, but it also writes the store while
    holding the data lock that readers wait for. A low-priority writer that busy questions starve holds that lock
    for seconds (priority inversion); its writes go through a thread made before the ingest lowered itself.
    """

    def __init__(self, increment: int = 0, name: str = "articleqa-priority"):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name,
                                        initializer=lower_this_thread, initargs=(increment,))
        self._pool.submit(lambda: None).result()  # the thread exists from here, with the priority it has now

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(*args)` on the thread and return its result (its exception is raised here)."""
        return self._pool.submit(contextvars.copy_context().run, fn, *args).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
