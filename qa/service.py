"""Answer questions for other processes: one warm Asker behind a token-guarded HTTP endpoint on 127.0.0.1.

Two hosts run it: the answer daemon (`articleqa ask` starts it on first use; it exits after `ask_server_idle`
seconds without a question) and the chat, which owns its store. Up to `ask_server_workers` questions are answered at
once (one per core: question loops from several shells would otherwise queue behind each other on an idle core);
more wait in arrival order. The daemon is a reader like any `articleqa ask`: it holds the store only from the
generation check to the end of retrieval, and reopens the store when an ingest changed it (Chroma's embedded vector
index is loaded once per open).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from articleqa.endpoint import Endpoint, fingerprint, publish, withdraw
from articleqa.settings import Settings
from qa.ask import Asker
from qa.turn import Request

# A question longer than max_question_chars is refused by the answerer, with that reason; the body limit only stops
# abuse. 1 MiB holds any question a command line can carry (128 KiB per argument, up to 6 JSON bytes a character).
MAX_BODY = 1024 * 1024


class AnswerService:
    """Answers `/ask` payloads with one Asker; `follow_writer` when another process may write the store."""

    def __init__(self, settings: Settings, asker: Asker | None = None, follow_writer: bool = True):
        self.settings = settings
        self.follow_writer = follow_writer
        self.fingerprint = fingerprint(settings)
        self._asker = asker
        self._generation: str | None = None
        self._reopen_lock = threading.Lock()
        self.workers = settings.chat.ask_server_workers or min(4, os.cpu_count() or 1)
        self._worker = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="articleqa-answer")
        self.last_used = time.monotonic()
        self.busy = 0
        self.served = 0
        self.reopened = 0  # times an ingest by another process made it reopen the store
        self._count = threading.Lock()

    def submit(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one payload (in a worker, once one is free); returns (HTTP status, reply)."""
        if payload.get("fingerprint") != self.fingerprint:
            return 409, {"error": "this process answers with other settings or code"}
        with self._count:
            self.busy += 1
        try:
            return self._worker.submit(self._answer, payload, time.perf_counter()).result()
        finally:
            with self._count:
                self.busy -= 1
                self.served += 1
                self.last_used = time.monotonic()

    def warm(self) -> None:
        """Open the store and load every model now, before the first question (as the chat's warm-up does)."""
        self._worker.submit(self._warm).result()

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)

    # ---- in the worker thread ----------------------------------------------------------------------------------
    def _warm(self) -> None:
        from qa.ask import warm_up

        warm_up(self.settings)
        self._answer({"question": "warm up"})

    def _answer(self, payload: dict[str, Any], arrived: float | None = None) -> tuple[int, dict[str, Any]]:
        from articleqa.lock import busy_reason
        from articleqa.rwlock import StoreWriting, last_wait, reading
        from articleqa.store import StoreError

        started = time.perf_counter()
        try:
            req = _request(payload)
        except (TypeError, ValueError) as exc:
            return 400, {"error": f"bad request: {exc}"}
        try:
            if not self.follow_writer:  # the chat owns its store: no other process writes it
                answer = self._ready().ask(req)
            else:
                with reading(self.settings) as lease:
                    t = time.perf_counter()
                    asker = self._ready()
                    reopen = time.perf_counter() - t
                    asker.after_retrieval = lease.release  # answering and checking need the store no more
                    try:
                        answer = asker.ask(req)
                    finally:
                        asker.after_retrieval = None
                answer.timings["store_wait"] = last_wait()
                answer.timings["reopen"] = reopen
        except (StoreError, StoreWriting) as exc:
            return 503, {"error": busy_reason(self.settings, exc)}
        # Where a question's time went in this process (bench/concurrency.py): waiting for the questions before it,
        # and all of it from arrival to reply; the rest of a client's time is its own start-up and the request.
        answer.timings["queued"] = started - (arrived or started)
        answer.timings["served"] = time.perf_counter() - (arrived or started)
        return 200, {"answer": answer.to_dict(), "refused": answer.refused}

    def _ready(self) -> Asker:
        """The Asker, over the store as it is now (reopened when an ingest changed it since the last question).

        Called with the read lease held. One question reopens, the others then find the store current. A question
        still answering (past retrieval) when another reopens may read through the old client or the new one: both
        stay valid (Chroma drops its cache of clients on a reopen, it does not close them: tests/qa/test_service.py).
        """
        with self._reopen_lock:
            if self._asker is None:
                self._asker = Asker(self.settings)
                self._generation = self._asker.store.generation()
            elif self.follow_writer:
                generation = self._asker.store.generation()
                if generation != self._generation:
                    self._asker.store.reopen()
                    self._generation = generation
                    self.reopened += 1
            return self._asker


def _request(payload: dict[str, Any]) -> Request:
    def day(key: str) -> dt.date | None:
        value = payload.get(key)
        return dt.date.fromisoformat(value) if value else None

    question = payload.get("question")
    if not isinstance(question, str):
        raise ValueError("no question")
    return Request(question, source=payload.get("source") or None, since=day("since"), until=day("until"),
                   mode=payload.get("mode") or None, reference_date=day("reference_date"))


class _Handler(BaseHTTPRequestHandler):
    service: AnswerService
    token: str

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        if self.path != "/ask":
            return self._reply(404, {"error": "not found"})
        sent = self.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode()):
            return self._reply(401, {"error": "bad token"})
        try:
            size = int(self.headers.get("Content-Length", "0"))
            if not 0 < size <= MAX_BODY:
                raise ValueError(f"body of {size} bytes")
            payload = json.loads(self.rfile.read(size))
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            return self._reply(400, {"error": f"bad request: {exc}"})
        status, reply = self.service.submit(payload)
        self._reply(status, reply)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
        pass  # one line per question is the daemon's own log (see serve_endpoint's on_answer)


def start_endpoint(service: AnswerService, folder: Path, role: str) -> tuple[ThreadingHTTPServer, Endpoint]:
    """Serve `service` on 127.0.0.1 (a free port) in a background thread and publish it in `folder`'s registry."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    endpoint = Endpoint.new(server.server_address[1], service.fingerprint, role)
    server.RequestHandlerClass = type("Handler", (_Handler,), {"service": service, "token": endpoint.token})
    threading.Thread(target=server.serve_forever, name="articleqa-endpoint", daemon=True).start()
    publish(folder, endpoint)
    return server, endpoint


def stop_endpoint(server: ThreadingHTTPServer, folder: Path) -> None:
    """Withdraw the registry first (no new client finds it), then stop serving."""
    withdraw(folder)
    server.shutdown()
    server.server_close()
