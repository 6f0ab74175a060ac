"""`articleqa answer-daemon`, and how `articleqa ask` reaches it: questions answered by one warm process per store."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import CollOpt, StoreOpt, fail, make_settings

if TYPE_CHECKING:
    from articleqa.endpoint import Endpoint
    from articleqa.settings import Settings

START_WAIT = 180.0  # seconds a client waits for a daemon it started to load its models (a cold disk on 2 cores)


def answer_daemon_command(
    store: StoreOpt = None,
    collection: CollOpt = None,
    idle: Annotated[float | None, typer.Option(help="Exit after this many seconds without a question "
                                                    "[env ARTICLEQA_ASK_SERVER_IDLE, default 600].")] = None,
) -> None:
    """Answer `articleqa ask` for one embedded store from a process that keeps the models loaded.

    `articleqa ask` starts it on first use (ARTICLEQA_ASK_SERVER=auto) and goes through it afterwards; it exits
    after --idle seconds without a question, or when the chat starts on the same store. Start it yourself to keep it
    longer. It answers ARTICLEQA_ASK_SERVER_WORKERS questions at once (default one per core, at most 4). It listens
    on 127.0.0.1 only; its port and token are in <store>/.articleqa.answer.json (mode 0600).

    Examples:

      articleqa answer-daemon --store news_db --idle 3600 &

      articleqa ask "Who accompanied Kim?" --store news_db
    """
    from articleqa.endpoint import OWNER_LOCK, find, store_folder, without_reference_date
    from articleqa.store import StoreError
    from qa.service import AnswerService, start_endpoint, stop_endpoint

    # Each question brings its reference date (or none): the daemon has none of its own.
    settings = without_reference_date(make_settings(store_path=store, collection=collection, ask_server_idle=idle))
    folder = store_folder(settings)
    if folder is None:
        fail("the answer daemon serves an embedded store; with a Chroma server every `articleqa ask` reaches it")
    folder.mkdir(parents=True, exist_ok=True)
    owner = os.open(folder / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        typer.echo(f"an answer daemon already serves {folder}", err=True)
        raise typer.Exit(0) from None
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends it as Ctrl-C does: registry withdrawn first
    service = AnswerService(settings)
    try:
        service.warm()
    except StoreError as exc:
        fail(str(exc))
    server, endpoint = start_endpoint(service, folder, "daemon")
    typer.echo(f"answer daemon pid {os.getpid()} serving {folder} on 127.0.0.1:{endpoint.port}, "
               f"{service.workers} questions at once", err=True)
    reason = "stopped"
    try:
        while True:
            time.sleep(0.5)
            current = find(settings)
            if not folder.is_dir():
                reason = f"{folder} was removed"
                break
            if current is None or current.pid != os.getpid():
                reason = "the registry names another process (the chat started?)"
                break
            if not service.busy and time.monotonic() - service.last_used > settings.chat.ask_server_idle:
                reason = f"idle for {settings.chat.ask_server_idle:g} s"
                break
    except KeyboardInterrupt:
        pass
    finally:
        stop_endpoint(server, folder)
        service.close()
        os.close(owner)
    typer.echo(f"answer daemon pid {os.getpid()} exits: {reason}; {service.served} questions answered; "
               f"store reopened {service.reopened} times after other processes wrote it", err=True)


def remote_answer(settings: Settings, payload: dict[str, Any], start: bool) -> dict[str, Any] | None:
    """Answer through the process registered for the store (starting the daemon first when `start`).

    Returns:
        {"answer": Answer dict, "refused": bool}, or None when no process can answer (the caller answers itself).
    Exits:
        2 with the daemon's one-line message when the store was busy (as an in-process answer would).
    """
    from articleqa.endpoint import (
        EndpointGone,
        alive,
        ask,
        find,
        fingerprint,
        store_folder,
        withdraw,
        without_reference_date,
    )

    payload = {**payload, "fingerprint": fingerprint(without_reference_date(settings))}
    endpoint = find(settings)
    if endpoint is not None and start and _outdated(endpoint):
        endpoint = None if _retire(endpoint, settings) else endpoint
    if endpoint is None and start:
        endpoint = start_daemon(settings, payload["fingerprint"])
    if endpoint is None or endpoint.fingerprint != payload["fingerprint"]:
        return None
    try:
        status, reply = ask(endpoint, payload, timeout=2 * settings.limits.read_wait + 300,
                            stall=settings.chat.ask_server_stall)
    except EndpointGone:
        # It exited meanwhile (idle, killed). Its stale entry goes, so the next question starts a replacement;
        # this one is answered here rather than waiting for a model load.
        folder = store_folder(settings)
        if folder is not None and not alive(endpoint.pid):
            withdraw(folder, endpoint.pid)
        return None
    if status == 503:
        fail(str(reply.get("error", "the store is busy")))
    return reply if status == 200 and isinstance(reply.get("answer"), dict) else None


def start_daemon(settings: Settings, want: str) -> Endpoint | None:
    """Start the answer daemon for the store in the background and wait until it answers (None if it cannot)."""
    from articleqa.endpoint import OWNER_LOCK, find, store_folder

    folder = store_folder(settings)
    if folder is None or not _writable(folder):
        return None  # a read-only store: nowhere to publish the registry; answer in-process from a copy
    log_dir = settings.resolved_cache_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ARTICLEQA_STORE_PATH": str(folder), "ARTICLEQA_COLLECTION": settings.store.collection}
    with open(log_dir / "answer-daemon.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "articleqa", "answer-daemon"], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        found = find(settings)
        if found is not None:
            return found if found.fingerprint == want else None
        if proc.poll() is not None and not _held(folder / OWNER_LOCK):
            return None  # it failed (see the log) and no other daemon is starting
        time.sleep(0.1)
    return None


def _outdated(endpoint: Endpoint) -> bool:
    """A daemon started before the code was edited or upgraded answers no client of this checkout again."""
    from articleqa.endpoint import code_stamp

    return endpoint.role == "daemon" and endpoint.code != code_stamp()


def _retire(endpoint: Endpoint, settings: Settings, wait: float = 10.0) -> bool:
    """Ask an outdated daemon to exit (SIGTERM: it withdraws its registry first); True once it is gone."""
    from articleqa.endpoint import OWNER_LOCK, alive, store_folder

    folder = store_folder(settings)
    try:
        os.kill(endpoint.pid, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        # Gone only once it let go of the owner lock too, or its replacement would find the store still served.
        if folder is None or not alive(endpoint.pid) or not _held(folder / OWNER_LOCK):
            return True
        time.sleep(0.1)
    return False


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _held(path: Path) -> bool:
    """Whether some process holds the lock file (a daemon that won the race to start is loading)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
