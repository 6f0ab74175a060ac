"""Readers and one writer sharing an embedded store: the writer locks only while it writes, readers wait briefly.

Why this works: a process that opens the embedded Chroma folder reads everything committed before it opened (its
log is replayed from SQLite), so a short-lived reader (`articleqa ask`, `articles list`) only must not read while
a write is half-applied. The writer (an ingest, the chat) therefore takes the data lock exclusively around each
batch of store writes, never while it loads, cleans or embeds; readers take it shared from opening the store to
their last read. A gate file gives the writer precedence, so steady questions cannot starve an ingest.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from articleqa.settings import Settings

DATA_LOCK = ".articleqa.data"
GATE = ".articleqa.gate"
_POLL = 0.005  # seconds between attempts (flock has no timeout of its own): a reader goes on within 5 ms of a write

_local = threading.local()  # re-entrancy: one process may nest reads inside writes (recover() reads records)
_process_guard = threading.RLock()  # threads of one process share the flock, so they serialise on this first


def last_wait() -> float:
    """Seconds this thread's last `reading` waited for a writer (for timings)."""
    return getattr(_local, "waited", 0.0)


class StoreWriting(TimeoutError):
    """A reader waited read_wait seconds and the writer still held the store."""


def _paths(settings: Settings) -> tuple[Path, Path] | None:
    if settings.store.chroma_url:
        return None  # a Chroma server serialises its clients itself
    folder = Path(settings.store.path).resolve()
    return folder / DATA_LOCK, folder / GATE


def _open(path: Path) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.ENOENT):
            raise
    try:  # a read-only store: flock works on a read-only descriptor, and nobody can write the store anyway
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def _lock(fd: int, mode: int, deadline: float | None) -> bool:
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)


@contextmanager
def reading(settings: Settings, wait: float | None = None) -> Iterator[Lease]:
    """Hold the store for reading: waits (up to `wait`, default settings.limits.read_wait) while a write is in progress.

    Raises:
        StoreWriting: the writer kept the store longer than `wait` seconds.
    """
    paths = _paths(settings)
    if paths is None or getattr(_local, "depth", 0):
        yield Lease()
        return
    wait = settings.limits.read_wait if wait is None else wait
    deadline = time.monotonic() + max(wait, 0.0)
    data_fd, gate_fd = _open(paths[0]), _open(paths[1])
    started = time.monotonic()
    try:
        # Pass the gate (held by a writer waiting for readers to leave), then take the shared lock.
        if gate_fd is not None and not _lock(gate_fd, fcntl.LOCK_EX, deadline):
            raise StoreWriting(f"an ingest kept {settings.store.path} busy for more than read_wait {wait:g} s")
        try:
            if data_fd is not None and not _lock(data_fd, fcntl.LOCK_SH, deadline):
                raise StoreWriting(f"an ingest kept {settings.store.path} busy for more than read_wait {wait:g} s")
        finally:
            if gate_fd is not None:
                fcntl.flock(gate_fd, fcntl.LOCK_UN)
        _local.depth, _local.waited = 1, time.monotonic() - started
        lease = Lease(data_fd)
        try:
            yield lease
        finally:
            lease.release()
    finally:
        for fd in (data_fd, gate_fd):
            if fd is not None:
                os.close(fd)


class Lease:
    """A held read of the store; `release()` gives it back early (idempotent), e.g. once retrieval is done."""

    def __init__(self, fd: int | None = None):
        self._fd = fd
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            _local.depth = 0
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


@contextmanager
def writing(settings: Settings) -> Iterator[None]:
    """Hold the store exclusively for one batch of writes (re-entrant in a thread; threads take turns).

    Waits for current readers to finish (each holds the store for one question, seconds at most); new readers wait
    at the gate meanwhile.
    """
    paths = _paths(settings)
    if paths is None or getattr(_local, "depth", 0):
        yield
        return
    # A reader holds the store for one question; one that keeps it far longer is stuck (stopped, hung), and the
    # writer must not wait for it for ever.
    limit = max(60.0, 4 * settings.limits.read_wait)
    with _process_guard:
        data_fd, gate_fd = _open(paths[0]), _open(paths[1])
        try:
            deadline = time.monotonic() + limit
            got = gate_fd is None or _lock(gate_fd, fcntl.LOCK_EX, deadline)
            try:
                got = got and (data_fd is None or _lock(data_fd, fcntl.LOCK_EX, deadline))
                if not got:
                    raise StoreWriting(f"a reader kept {settings.store.path} busy for more than {limit:g} s")
            finally:
                if gate_fd is not None:
                    fcntl.flock(gate_fd, fcntl.LOCK_UN)
            _local.depth = 1
            try:
                yield
            finally:
                _local.depth = 0
        finally:
            for fd in (data_fd, gate_fd):
                if fd is not None:
                    os.close(fd)
