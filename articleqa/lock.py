"""One writer per embedded store folder: an flock'ed file naming its holder, so a second process fails clearly."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from articleqa.settings import Settings
from articleqa.store import StoreError

# Why a lock at all: Chroma's embedded client keeps its vector index in the memory of the process that opened the
# folder. A second process writing the same folder is unsafe, and its writes stay invisible to the first. A Chroma
# server has no such limit, so nothing is locked in server mode.
LOCK_NAME = ".articleqa.lock"
SERVER_HINT = "run a Chroma server: chroma run --path DIR --port 8000, then ARTICLEQA_CHROMA_URL=http://127.0.0.1:8000"
READER_WAIT = 10.0  # seconds a writer waits for short read-only commands (ask, articles list) to finish


class StoreBusy(StoreError):
    """Another process holds the embedded store; the message names it and the fix."""


@dataclass
class _Held:
    fd: int
    exclusive: bool
    count: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


def lock_file(settings: Settings) -> Path | None:
    """The lock file of the embedded store, or None in server mode (the server serialises writers itself)."""
    if settings.store.chroma_url:
        return None
    return Path(settings.store.path).resolve() / LOCK_NAME


def holder(path: Path) -> dict[str, object]:
    """Who holds the lock file as a writer ({"pid", "role"}), or {} when nobody says so."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def busy_message(settings: Settings, info: dict[str, object], write: bool) -> str:
    """The one-line refusal for a process that cannot have the store, naming the holder and the fix.

    Args:
        settings: the refused process's settings (names the store folder).
        info: the holder as written in the lock file ({} when only readers hold it).
        write: whether the refused process wanted to write.
    Returns:
        The message (without an "error:" prefix).
    """
    store = settings.store.path
    role, pid = info.get("role"), info.get("pid")
    if role == "chat":
        fix = (
            "add articles from its Articles tab"
            if write
            else "ask in the chat (or through its /ask API)"
        )
        return f"the chat (pid {pid}) is using {store}; {fix}, or {SERVER_HINT}"
    if role:
        return f"{role} (pid {pid}) is writing {store}; wait for it to finish, or {SERVER_HINT}"
    return f"another articleqa process is reading {store}; try again when it has finished, or {SERVER_HINT}"


def busy_reason(settings: Settings, exc: BaseException) -> str:
    """The one-line message for a reader that could not read: a store error as it is, a long write with its
    writer named."""
    if isinstance(exc, TimeoutError):
        path = lock_file(settings)
        info = holder(path) if path else {}
        who = f"{info.get('role')} (pid {info.get('pid')})" if info.get("role") else "an ingest"
        wait = settings.limits.read_wait
        return (f"{who} kept {settings.store.path} busy writing for more than read_wait {wait:g} s; "
                f"try again, raise ARTICLEQA_READ_WAIT, or {SERVER_HINT}")
    return str(exc)


def _open(path: Path, write: bool) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
            raise StoreError(f"cannot open the lock file {path}: {exc.strerror}") from exc
        if write:
            raise StoreError(
                f"the store {path.parent} is not writable ({exc.strerror}); make it writable or use another --store"
            ) from exc
    try:  # a read-only folder cannot be written by anyone, so readers need no lock beyond a shared one if possible
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def _try_lock(fd: int, exclusive: bool) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def acquire(settings: Settings, role: str, write: bool = True, wait: float = READER_WAIT) -> bool:
    """Take the store lock for this process (re-entrant: the chat's own ingests pass straight through).

    Args:
        settings: which store; nothing happens in server mode.
        role: who is asking, shown to refused processes ("chat", "ingest", "delete", "migrate").
        write: exclusive (writer) when True, shared (reader) when False.
        wait: seconds a writer waits for readers (who leave no name); another writer is refused at once.
    Returns:
        True when a lock was taken (call `release` once), False in server mode or on a read-only folder.
    Raises:
        StoreBusy: another process holds the store.
        StoreError: a writer on a read-only store folder.
    """
    path = lock_file(settings)
    if path is None:
        return False
    with _guard:
        held = _held.get(path)
        if held is not None and (held.exclusive or not write):
            held.count += 1
            return True
        fd = held.fd if held is not None else _open(path, write)
        if fd is None:
            return False
        deadline = time.monotonic() + wait
        while not _try_lock(fd, write):
            info = holder(path)
            if info or not write or time.monotonic() >= deadline:
                if held is None:
                    os.close(fd)
                raise StoreBusy(busy_message(settings, info, write))
            time.sleep(0.1)
        if write:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "role": role}).encode(), 0)
        if held is None:
            _held[path] = _Held(fd, write, 1)
        else:
            held.exclusive, held.count = True, held.count + 1
        return True


def release(settings: Settings) -> None:
    """Give back one `acquire`; the lock is dropped when the last one is released."""
    path = lock_file(settings)
    with _guard:
        held = _held.get(path) if path else None
        if held is None:
            return
        held.count -= 1
        if held.count > 0:
            return
        if held.exclusive:
            os.ftruncate(held.fd, 0)  # before unlocking, so the next holder's name is never erased
        fcntl.flock(held.fd, fcntl.LOCK_UN)
        os.close(held.fd)
        del _held[path]


@contextmanager
def store_lock(settings: Settings, role: str, write: bool = True) -> Iterator[None]:
    """`acquire` for the duration of a `with` block.

    Args:
        settings: which store.
        role: who holds it (shown to refused processes).
        write: exclusive when True, shared when False.
    """
    taken = acquire(settings, role, write)
    try:
        yield
    finally:
        if taken:
            release(settings)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing): one process at a time updates a derived cache."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
