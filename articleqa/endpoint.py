"""Where a running articleqa process answers questions for a store: its registry file, and the client that calls it.

Why: a fresh `articleqa ask` process spends seconds importing torch and loading models before a 0.2 s answer, and
on a busy machine many such processes are what makes questions slow while an ingest runs. A process that keeps the
models warm (the answer daemon, or the running chat) publishes `<store>/.articleqa.answer.json`, readable by this
user only (0600): its pid, its 127.0.0.1 port, a random token every request must carry, and a fingerprint of the
settings and code it answers with. A client whose fingerprint differs answers in its own process instead.

Standard library only, and the least of it: every question while an ingest runs is a new client process, and on a
busy 2-core machine its start-up is most of the question's time. So no http.client (with the email parser and ssl
it pulls in), dataclasses (inspect), secrets or typing at import: a client process then costs about half the CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import time
from collections import namedtuple
from pathlib import Path

TYPE_CHECKING = False  # typing's own import is a cost every client process would pay
if TYPE_CHECKING:
    from typing import Any

    from articleqa.settings import Settings

REGISTRY = ".articleqa.answer.json"
STALL = 5.0  # default of the ask_server_stall setting (s): how long a client waits on a stopped answer process
OWNER_LOCK = ".articleqa.answer.lock"  # held by the one daemon of a store for its whole life
_SOURCES = ("articleqa", "qa", "ingest")  # the code an answer depends on


class EndpointGone(RuntimeError):
    """The registered process did not answer (it exited, or the connection broke)."""


class Endpoint(namedtuple("Endpoint", "pid port token fingerprint role code", defaults=("",))):
    """A process answering for one store: pid, 127.0.0.1 port, token, fingerprint, role ("daemon" or "chat") and
    code (its code_stamp(): a daemon running older code is replaced, not just bypassed). A named tuple, not a
    dataclass: see the module docstring."""

    __slots__ = ()

    @staticmethod
    def new(port: int, fingerprint: str, role: str) -> Endpoint:
        import secrets

        return Endpoint(os.getpid(), port, secrets.token_urlsafe(32), fingerprint, role, code_stamp())


def store_folder(settings: Settings) -> Path | None:
    """The embedded store's folder, or None in server mode (no endpoint: every process reaches the server)."""
    return None if settings.store.chroma_url else Path(settings.store.path).resolve()


def without_reference_date(settings: Settings) -> Settings:
    """The settings with no reference date: what a client compares, as its own date travels with each question."""
    return settings.model_copy(update={"answer": settings.answer.model_copy(update={"reference_date": None})})


def fingerprint(settings: Settings) -> str:
    """What an answer depends on besides the request: every setting but the chat ones, and the code.

    The chat group (host, login, limits of the web UI) changes no answer. The code is named by its newest source
    file's mtime, so an edited or upgraded checkout never gets answers from an older process. A client computes it
    `without_reference_date` and sends its date with the question; the daemon runs without one, so any client
    matches it, and a chat started with a reference date matches no client.
    """
    data = settings.model_dump(mode="json")
    data.pop("chat", None)
    data["store"]["path"] = str(Path(settings.store.path).resolve())
    text = json.dumps(data, sort_keys=True, default=str) + f"|{code_stamp()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def code_stamp() -> str:
    """The checkout and its newest source file's mtime: changes whenever the code an answer depends on does."""
    root = Path(__file__).resolve().parent.parent
    newest = 0
    for package in _SOURCES:
        try:
            newest = max([newest, *(e.stat().st_mtime_ns for e in os.scandir(root / package)
                                    if e.name.endswith(".py"))])
        except OSError:
            continue
    return f"{root}|{newest}"


def publish(folder: Path, endpoint: Endpoint) -> Path:
    """Write the registry atomically, readable and writable by this user only (the token is a secret)."""
    path = folder / REGISTRY
    tmp = folder / f"{REGISTRY}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, an older file of that name cannot either
        os.write(fd, json.dumps(endpoint._asdict()).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def withdraw(folder: Path, pid: int | None = None) -> None:
    """Remove the registry if it names `pid` (default this process): a newer process's entry is left alone."""
    path = folder / REGISTRY
    found = read(path)
    if found is not None and found.pid == (pid or os.getpid()):
        try:
            path.unlink()
        except OSError:
            pass


def find(settings: Settings) -> Endpoint | None:
    """The live process registered for this store, or None (no registry, a dead pid, or not this user's file)."""
    folder = store_folder(settings)
    if folder is None:
        return None
    found = read(folder / REGISTRY)
    if found is None or not alive(found.pid):
        return None
    return found


def ask(endpoint: Endpoint, payload: dict[str, Any], timeout: float, stall: float = STALL
        ) -> tuple[int, dict[str, Any]]:
    """POST one question to the endpoint (HTTP/1.1 over a plain socket; the server closes after its reply).

    Returns:
        (HTTP status, the JSON reply): 200 with {"answer", "refused"}, 409 when the fingerprints differ, 4xx/5xx
        with {"error"}.
    Raises:
        EndpointGone: nothing answered on the port, the connection broke before a whole reply came, the process
            stayed stopped for `stall` seconds (the kernel still accepts connections for a stopped process, so only
            its state tells), or no reply came within `timeout`.
    """
    if stopped(endpoint.pid):
        raise EndpointGone(f"the answer process (pid {endpoint.pid}) is stopped")
    body = json.dumps(payload).encode()
    head = (f"POST /ask HTTP/1.1\r\nHost: 127.0.0.1:{endpoint.port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {endpoint.token}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    try:
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=timeout) as sock:
            sock.sendall(head.encode() + body)
            _await_reply(sock, endpoint.pid, timeout, stall)
            chunks = []
            while chunk := sock.recv(1 << 16):
                chunks.append(chunk)
        return _reply(b"".join(chunks))
    except (OSError, ValueError, IndexError) as exc:
        raise EndpointGone(f"{type(exc).__name__}: {exc}") from exc


def _reply(raw: bytes) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a whole HTTP reply; ValueError when it is cut short or not one."""
    header, sep, data = raw.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    if not sep or not lines[0].startswith("HTTP/"):
        raise ValueError("no HTTP reply")
    status = int(lines[0].split()[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and int(value) != len(data):
            raise ValueError(f"reply cut short ({len(data)} of {int(value)} bytes)")
    return status, json.loads(data or b"{}")


def read(path: Path) -> Endpoint | None:
    try:
        st = path.stat()
        # Someone else's (or a world-readable) registry is never trusted: it could send our questions anywhere.
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None
        data = json.loads(path.read_text())
        return Endpoint(int(data["pid"]), int(data["port"]), str(data["token"]), str(data["fingerprint"]),
                        str(data.get("role", "daemon")), str(data.get("code", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _await_reply(sock: socket.socket, pid: int, timeout: float, stall: float) -> None:
    """Wait until the reply starts, up to `timeout`, giving up once the process has been stopped for `stall` s."""
    deadline = time.monotonic() + timeout
    stopped_since: float | None = None
    poller = select.poll()  # not select.select: a process with 1,024 open files has descriptors it cannot watch
    poller.register(sock, select.POLLIN)
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise EndpointGone(f"no reply within {timeout:g} s")
        if poller.poll(min(250, int((deadline - now) * 1000) + 1)):
            return
        if stopped(pid) or not alive(pid):
            stopped_since = stopped_since or time.monotonic()
            if time.monotonic() - stopped_since >= stall:
                raise EndpointGone(f"the answer process (pid {pid}) stopped answering")
        else:
            stopped_since = None


def stopped(pid: int) -> bool:
    """Whether `pid` is stopped (SIGSTOP, Ctrl-Z, a debugger): it would hold every question sent to it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] in (b"T", b"t")
    except (OSError, IndexError):
        return False


def alive(pid: int) -> bool:
    """Whether `pid` runs. A killed process whose parent has not reaped it yet (a zombie: the daemon's parent, the
    `ask` that started it, is gone, and the init of a container may reap late) still answers kill(0); it counts
    as dead, or its registry would keep every client from starting a replacement."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(0) is all we know
    return state not in (b"Z", b"X")
