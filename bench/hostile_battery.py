"""A hostile battery: new bad inputs, careless commands and process faults, each judged against docs/limits.md.

Every case is a real `python -m articleqa` process (as a user or a cron job runs it) against one scratch store. For
each: exit code, seconds, the last line of stderr, whether the store is still consistent and kept every article it
had, and a PASS/FAIL verdict against the contract: one clear line naming the input and the reason, the rest of the
run goes on, bounded time and memory, nothing stored lost, valid JSON on stdout under --json, no traceback.

Usage (the code under test is --code, default this checkout; the battery itself needs only the venv's Python):

    python bench/hostile_battery.py --work /tmp/hostile-after
    python bench/hostile_battery.py --work /tmp/hostile-before --code /tmp/articleqa-729cc87
    python bench/hostile_battery.py --work DIR --only fifo gzip-bomb-double --groups ask

Groups: files json pdf html http feed ask cli env concurrency disk server chat. Inputs are made here, under
--work; a local HTTP server on 127.0.0.1 serves the hostile pages and feeds. Cases that need root (running as
`nobody`, a tmpfs for the full disk) are skipped with a reason when not root. Results go to --work/results.json
and, as a Markdown table, to stdout.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NOBODY = "65534"
RSS_CAP_MB = 3072  # a process above this is killed and fails "unbounded memory"
COLLECTION = "articles"
SENTINEL_ID = "sentinel-harbour"

# ----------------------------------------------------------------------------------------------------------------
# article texts: distinct enough that near-duplicate detection never merges two of them
# ----------------------------------------------------------------------------------------------------------------

_NOUNS = ("ferry", "bridge", "library", "council", "harbour", "market", "school", "railway", "museum", "stadium",
          "hospital", "airport", "factory", "orchard", "vineyard", "brewery", "lighthouse", "canal", "tunnel", "park",
          "theatre", "clinic", "bakery", "quarry", "reservoir", "observatory", "monastery", "warehouse", "pier",
          "garden")
_PLACES = ("Portvale", "Exampleton", "Northbridge", "Eastwick", "Lowmoor", "Highcliff", "Riverside", "Ashford",
           "Kingsbay", "Millbrook", "Stonehaven", "Westfield", "Oakridge", "Redcastle", "Greyport", "Fairholm")
_PEOPLE = ("Ana Ribeiro", "Tomas Berg", "Lena Fischer", "Omar Haddad", "Mei Tanaka", "Sofia Rossi", "Kwame Mensah",
           "Ines Duarte", "Pavel Novak", "Aisha Bello", "Jonas Weber", "Clara Moreau")
_VERBS = ("approved", "rejected", "postponed", "announced", "funded", "inspected", "reopened", "closed", "expanded",
          "renovated", "criticised", "praised", "audited", "surveyed")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def article_text(i: int, sentences: int = 6) -> str:
    """A news-like text of `sentences` sentences; different `i` give texts that share few word shingles."""
    rnd = random.Random(i * 7919 + 17)
    out = []
    for _ in range(sentences):
        n1, n2 = rnd.choice(_NOUNS), rnd.choice(_NOUNS)
        out.append(f"{rnd.choice(_PEOPLE)} of {rnd.choice(_PLACES)} said the town {rnd.choice(_VERBS)} the "
                   f"{n1} plan number {rnd.randint(10, 99999)} on {rnd.choice(_DAYS)}, after {rnd.randint(2, 900)} "
                   f"residents asked about the {n2} and its {rnd.randint(3, 90)} million euro budget.")
    return " ".join(out)


def record(i: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"rec-{i}", "title": f"Report {i}", "publish_date": "2025-08-20", "text": article_text(i), **fields}


SEED = [
    {"id": "harbour", "title": "Portvale ferry pier reopens", "publish_date": "2025-08-29", "source": "Portvale Post",
     "author": "Lena Fischer",
     "text": "The harbour master Ana Ribeiro said on Monday that the ferry pier in Portvale reopened after repairs "
             "costing 40 million euros. The pier had been closed for eleven months after a storm damaged its "
             "pylons. Ribeiro said the first ferry to Kingsbay left at seven in the morning with 212 passengers. "
             "The town council meets every Tuesday to review the harbour budget, the clerk said."},
    {"id": "observatory", "title": "Highcliff observatory gets a new telescope", "publish_date": "2025-08-15",
     "source": "Highcliff Herald",
     "text": "The Highcliff observatory installed a new telescope with a mirror of 2.4 metres on Thursday, its "
             "director Omar Haddad said. The telescope cost 12 million euros and was paid for by the regional "
             "science fund. Haddad said students from Millbrook will use it for their first observations in "
             "October, and the public can visit it every first Sunday of the month."},
]
SENTINEL = {"id": SENTINEL_ID, "title": "Sentinel article", "publish_date": "2025-08-01", "source": "Battery",
            "text": article_text(999_999)}

# ----------------------------------------------------------------------------------------------------------------
# hand-made PDFs (no PDF library needed to write them)
# ----------------------------------------------------------------------------------------------------------------


def make_pdf(page_streams: list[bytes], flate: bool = False) -> bytes:
    """A minimal valid PDF: one page per content stream, Helvetica as /F1."""
    n = len(page_streams)
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont "
                         b"/Helvetica >>"]
    kids = []
    for k, stream in enumerate(page_streams):
        page_no, content_no = 4 + 2 * k, 5 + 2 * k
        kids.append(f"{page_no} 0 R".encode())
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {content_no} 0 R >>".encode())
        data = zlib.compress(stream) if flate else stream
        filt = b" /Filter /FlateDecode" if flate else b""
        objs.append(b"<< /Length " + str(len(data)).encode() + filt + b" >>\nstream\n" + data + b"\nendstream")
    objs[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count " + str(n).encode() + b" >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def text_stream(text: bytes) -> bytes:
    lines = [text[i : i + 80] for i in range(0, len(text), 80)]
    body = b"BT /F1 10 Tf 40 750 Td 12 TL " + b" ".join(b"(" + ln.replace(b"\\", b"\\\\").replace(b"(", b"\\(")
                                                          .replace(b")", b"\\)") + b") Tj T*" for ln in lines)
    return body + b" ET"


# ----------------------------------------------------------------------------------------------------------------
# the local HTTP server
# ----------------------------------------------------------------------------------------------------------------


def page_html(i: int, title: str | None = None, head: str = "", pre: str = "", post: str = "") -> str:
    title = f"Dispatch {i}" if title is None else title
    paras = "".join(f"<p>{s}.</p>" for s in article_text(i).split(". ") if s)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head><body>{pre}"
            f"<article><h1>{title}</h1>{paras}</article>{post}</body></html>")


def _gzip_stream(total: int, chunk: bytes = b"\0" * (1 << 20)) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(chunk) for _ in range(total // len(chunk))]
    return b"".join(parts) + comp.flush()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (the point of several cases) are not the battery's errors


class Server:
    """127.0.0.1 server for the http and feed cases (and a port that accepts but never answers)."""

    def __init__(self) -> None:
        self.http = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self.http.daemon_threads = True
        self.port = self.http.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.silent = socket.socket()  # listens, never accepts: connects succeed, no byte ever comes back
        self.silent.bind(("127.0.0.1", 0))
        self.silent.listen(64)
        self.silent_port = self.silent.getsockname()[1]
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            self.closed_port = s.getsockname()[1]
        self._bombs: dict[str, bytes] = {}
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def bomb(self, name: str) -> bytes:
        """The compressed body (made once, before the cases that fetch it: making 4 GiB takes a while)."""
        if name not in self._bombs:
            if name == "single":  # 1 GiB of zeros, gzip once (~1 MB on the wire)
                self._bombs[name] = _gzip_stream(1 << 30)
            elif name == "deflate":  # 512 MiB of spaces, zlib-wrapped deflate (~500 KB)
                comp = zlib.compressobj(9)
                self._bombs[name] = b"".join(comp.compress(b" " * (1 << 20)) for _ in range(512)) + comp.flush()
            else:  # 4 GiB of zeros, gzip twice (a few KB on the wire; the second layer inflates in one call)
                self._bombs[name] = gzip.compress(_gzip_stream(4 << 30), 9)
        return self._bombs[name]

    def close(self) -> None:
        self.http.shutdown()
        self.silent.close()


def _make_handler(srv: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _send(self, body: bytes, ctype: str = "text/html; charset=utf-8", status: int = 200,
                  headers: dict[str, str] | None = None, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

        def _redirect(self, where: str) -> None:
            self.send_response(302)
            self.send_header("Location", where)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: C901, N802 - one route table
            p = self.path
            m = re.match(r"/page/(\d+)", p)
            if m:
                return self._send(page_html(int(m.group(1))).encode())
            if p.startswith("/chain/"):
                k = int(p.split("/")[2])
                return self._redirect(f"/chain/{k - 1}") if k > 0 else self._send(page_html(501).encode())
            if p == "/loop":
                return self._redirect("/loop")
            if p == "/to-file":
                return self._redirect("file:///etc/passwd")
            if p == "/to-closed":
                return self._redirect(f"http://127.0.0.1:{srv.closed_port}/x")
            if p == "/to-ftp":
                return self._redirect("ftp://127.0.0.1/article.txt")
            if p in ("/gzip-bomb", "/gzip-bomb-double"):
                body = srv.bomb("single" if p == "/gzip-bomb" else "double")
                enc = "gzip" if p == "/gzip-bomb" else "gzip, gzip"
                return self._send(body, "text/plain", headers={"Content-Encoding": enc})
            if p == "/deflate-bomb":
                return self._send(srv.bomb("deflate"), "text/plain", headers={"Content-Encoding": "deflate"})
            if p == "/length-short":  # declares 100,000 bytes, sends a page and closes
                self._send(page_html(502).encode(), length=100_000)
                self.close_connection = True
                return None
            if p == "/length-long":  # declares 60 bytes of a 3 KB page
                return self._send(page_html(503).encode(), length=60)
            if p == "/error-200":
                return self._send(b"<html><head><title>Error</title></head><body><h1>404 Not Found</h1><p>The page "
                                  b"you requested could not be found.</p></body></html>")
            if p == "/charset-utf16":
                return self._send(page_html(504).encode(), "text/html; charset=utf-16")
            if p == "/charset-utf7":
                body = page_html(505, title="+ADw-script+AD4-alert(1)+ADw-/script+AD4- Dispatch").encode()
                return self._send(body, "text/html; charset=utf-7")
            if p == "/charset-bogus":
                return self._send(page_html(506).encode(), "text/html; charset=x-no-such-charset-\u00e9".encode(
                    "latin-1").decode("latin-1"))
            if p == "/octet":
                return self._send(os.urandom(4096), "application/octet-stream")
            if p == "/drip-headers":  # the status line at once, then a header byte every 2 s
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    self.wfile.flush()
                    for _ in range(300):
                        self.wfile.write(b"X")
                        self.wfile.flush()
                        time.sleep(2)
                except OSError:
                    pass
                self.close_connection = True
                return None
            if p == "/huge-title":
                return self._send(page_html(507, title="T" * 1_000_000).encode())
            if p == "/many-p":
                return self._send(("<html><body>" + "<p>a</p>" * 1_000_000 + page_html(508) + "</body></html>")
                                  .encode())
            if p == "/unclosed-scripts":
                return self._send((page_html(509) + "<script>x" * 400_000).encode())
            if p.startswith("/feed/"):
                return self._feed(p.split("/")[2])
            if p.startswith("/missing/"):
                return self._send(b"gone", "text/plain", status=404)
            return self._send(b"not here", "text/plain", status=404)

        def _feed(self, kind: str) -> None:
            base = srv.base
            if kind == "big.xml":  # 20,000 entries, every link a quick 404
                items = "".join(f"<item><title>E{i}</title><link>{base}/missing/{i}</link></item>"
                                for i in range(20_000))
            elif kind == "laughs.xml":
                ents = '<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">' + "".join(
                    f'<!ENTITY {chr(98 + k)} "{("&" + chr(97 + k) + ";") * 10}">' for k in range(9))
                body = (f'<?xml version="1.0"?><!DOCTYPE rss [{ents}]><rss version="2.0"><channel><title>&j;</title>'
                        f"<item><title>&j;</title><link>{base}/page/601</link></item></channel></rss>")
                return self._send(body.encode(), "application/rss+xml")
            elif kind == "self.xml":  # entries pointing at this feed, at another feed, and at a redirect loop
                items = "".join(f"<item><title>S{i}</title><link>{u}</link></item>" for i, u in enumerate(
                    [f"{base}/feed/self.xml", f"{base}/feed/other.xml", f"{base}/loop", f"{base}/page/602"]))
            elif kind == "other.xml":
                items = f"<item><title>O</title><link>{base}/feed/self.xml</link></item>"
            elif kind == "schemes.xml":
                items = "".join(f"<item><title>X{i}</title><link>{u}</link></item>" for i, u in enumerate(
                    ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,&lt;p&gt;hi", "ftp://x/y",
                     f"{base}/page/603"]))
            elif kind == "fields.xml":  # hostile entry metadata: a 1 MB title, control characters, a bogus date
                items = (f"<item><title>{'Q' * 1_000_000}</title><link>{base}/page/604</link>"
                         f"<pubDate>Fri, 99 Foo 99999 99:99:99</pubDate><author>a\x1b[2Jb</author></item>")
                items = items.replace("\x1b", "&#27;")
            else:
                return self._send(b"no feed", "text/plain", status=404)
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>'
            return self._send(body.encode(), "application/rss+xml")

    return Handler


# ----------------------------------------------------------------------------------------------------------------
# the store, read directly from Chroma's SQLite file (milliseconds, no chromadb import, no lock taken)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    records: dict[str, tuple[str, str, int]]  # id -> (hash, pending, passages)
    passages: dict[str, tuple[str, str]]  # passage id -> (article_id, content_hash)
    error: str = ""

    def problems(self) -> list[str]:
        """Why the store is not consistent (empty when it is)."""
        if self.error:
            return [self.error]
        out = [f"{rid} pending" for rid, (_, pending, _) in self.records.items() if pending]
        count: dict[str, int] = {}
        for pid, (aid, chash) in self.passages.items():
            rec = self.records.get(aid)
            if rec is None or not rec[0] or chash != rec[0]:
                out.append(f"stray passage {pid[:60]}")
            else:
                count[aid] = count.get(aid, 0) + 1
        for rid, (h, _, n) in self.records.items():
            if h and count.get(rid, 0) != n:
                out.append(f"{rid}: {count.get(rid, 0)} passages, record says {n}")
        return out[:5]


def snapshot(store: Path, collection: str = COLLECTION) -> Snapshot:
    db = store / "chroma.sqlite3"
    if not db.exists():
        return Snapshot({}, {})
    q = ("select e.embedding_id, m.key, m.string_value, m.int_value from embeddings e "
         "join embedding_metadata m on m.id = e.id join segments s on s.id = e.segment_id "
         "join collections c on c.id = s.collection where c.name = ? and m.key in ({})")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            recs: dict[str, dict[str, Any]] = {}
            for eid, key, sv, iv in con.execute(q.format("'hash','pending','passages'"), (f"{collection}__articles",)):
                recs.setdefault(eid, {})[key] = sv if sv is not None else iv
            pas: dict[str, dict[str, Any]] = {}
            for eid, key, sv, iv in con.execute(q.format("'article_id','content_hash'"), (collection,)):
                pas.setdefault(eid, {})[key] = sv if sv is not None else iv
        finally:
            con.close()
    except sqlite3.Error as exc:
        return Snapshot({}, {}, f"store unreadable: {exc}")
    return Snapshot({k: (str(v.get("hash") or ""), str(v.get("pending") or ""), int(v.get("passages") or 0))
                     for k, v in recs.items()},
                    {k: (str(v.get("article_id")), str(v.get("content_hash"))) for k, v in pas.items()})


def kept(before: Snapshot, after: Snapshot, may_change: set[str]) -> list[str]:
    """Committed articles of `before` that `after` lost or changed (other than those the case may change)."""
    out = []
    for rid, (h, pending, _) in before.records.items():
        if not h or pending or rid in may_change:
            continue
        now = after.records.get(rid)
        if now is None:
            out.append(f"lost {rid}")
        elif now[0] != h:
            out.append(f"changed {rid}")
    return out[:5]


# ----------------------------------------------------------------------------------------------------------------
# running one process
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    rc: int | None
    secs: float
    stdout: str
    stderr: str
    killed: str = ""  # why the battery killed it ("timeout 150 s", "RSS 3100 MB")
    peak_mb: float = 0.0


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


class Runner:
    """Starts `python -m articleqa` processes of the code under test, with a time and memory watchdog."""

    def __init__(self, code: Path, work: Path, store: Path):
        self.code, self.work, self.store = code, work, store
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ARTICLEQA_")},
            "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "ARTICLEQA_STORE_PATH": str(store),
            "ARTICLEQA_REFERENCE_DATE": "2025-09-05", "XDG_CACHE_HOME": str(work / "xdg"),
            "COLUMNS": "120",
        }
        self.cwd = work / "cwd"
        self.cwd.mkdir(parents=True, exist_ok=True)

    def start(self, args: list[str], env: dict[str, str] | None = None, user: str | None = None,
              stdin: Any = subprocess.DEVNULL) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "articleqa", *args]
        if user:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        return subprocess.Popen(cmd, cwd=self.cwd, env={**self.env, **(env or {})}, stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def wait(self, proc: subprocess.Popen, timeout: float, t0: float | None = None) -> Run:
        t0 = time.monotonic() if t0 is None else t0
        out: list[bytes] = []
        err: list[bytes] = []
        readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
                   for s, b in ((proc.stdout, out), (proc.stderr, err))]
        for r in readers:
            r.start()
        killed, peak = "", 0.0
        while proc.poll() is None:
            peak = max(peak, rss_mb(proc.pid))
            if peak > RSS_CAP_MB:
                killed = f"RSS over {RSS_CAP_MB} MB"
            elif time.monotonic() - t0 > timeout:
                killed = f"still running after {timeout:g} s"
            if killed:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: the process and what it started
                except OSError:
                    pass
                proc.wait()
                break
            time.sleep(0.05)
        for r in readers:
            r.join(timeout=10)
        return Run(None if killed else proc.returncode, time.monotonic() - t0,
                   b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace"), killed, peak)

    def run(self, args: list[str], timeout: float = 150, env: dict[str, str] | None = None,
            user: str | None = None) -> Run:
        t0 = time.monotonic()
        return self.wait(self.start(args, env, user), timeout, t0)


# ----------------------------------------------------------------------------------------------------------------
# cases and verdicts
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One hostile input or action and what the contract expects of it.

    expect: "reject" (exit 1/2, an error line naming `key`), "store" (exit 0, stored), "any" (stored or one error
    line naming `key`), "answer" (ask: exit 0 answered or 3 refused), "usage" (exit 2 with an error), "custom" (the
    `action` decides).
    """

    name: str
    group: str
    args: list[str] = field(default_factory=list)
    expect: str = "any"
    key: str = ""
    why: str = ""  # what the case throws at articleqa (shown in the table)
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 150.0
    sentinel: bool = True  # ingest: the sentinel file goes after the inputs (the run must reach it)
    user: str | None = None
    store: Path | None = None  # another store than the main one
    may_change: set[str] = field(default_factory=set)
    check: Callable[[Run, Battery], str] | None = None  # extra check: "" or why it fails
    action: Callable[[Battery], tuple[Run, list[str]]] | None = None  # custom cases: (run shown, failures)
    needs_root: bool = False
    budget_ok: bool = False  # the case may legitimately use up a time budget (a dripping server)
    reason: str = ""  # a regex the error line naming the input must match (the reason given is the right one)


@dataclass
class Result:
    name: str
    group: str
    why: str
    rc: Any
    secs: float
    last: str
    store: str
    verdict: str
    reasons: list[str]


_ALLOWED = re.compile(
    r"^(error: |duplicate: |warning: |note: |repaired \d+ |\d+ added, |\d+ articles?$|answer daemon |"
    r"[╭╰│]|Usage: |Try '|\s*$)"
)


def stderr_problems(err: str) -> list[str]:
    """Lines on stderr that are not one clear message: tracebacks, library noise, wrapped continuation lines."""
    out = []
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in err:
        out.append("traceback on stderr")
    stray = [ln for ln in lines if not _ALLOWED.match(ln)]
    if stray:
        out.append(f"{len(stray)} stray stderr line(s), e.g. {stray[0][:100]!r}")
    long = [ln for ln in lines if len(ln) > 2000]
    if long:
        out.append(f"an error line of {len(long[0]):,} characters")
    if len(lines) > 60:
        out.append(f"{len(lines)} lines on stderr (a flood, not one line per input)")
    return out


def json_problems(args: list[str], out: str) -> list[str]:
    if "--json" not in args:
        return []
    try:
        json.loads(out)
    except ValueError:
        return [f"--json but stdout is not JSON ({out.strip()[:60]!r})"]
    return []


def last_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error")]
    shown = errors[0] if errors else (lines[-1] if lines else "")
    return shown[:160]


class Battery:
    def __init__(self, code: Path, work: Path, timeout_scale: float = 1.0):
        self.code, self.work = code, work
        self.inp = work / "in"
        self.store = work / "store"
        self.runner = Runner(code, work, self.store)
        self.server = Server()
        self.results: list[Result] = []
        self.scale = timeout_scale
        self.sentinel = self.inp / "sentinel.jsonl"

    # ---- generic case runner ----------------------------------------------------------------------------------
    def run_case(self, case: Case) -> Result:
        store = case.store or self.store
        before = snapshot(store)
        reasons: list[str] = []
        if case.needs_root and os.geteuid() != 0:
            return self._record(case, None, 0.0, "", "skipped (needs root)", "SKIP", [])
        if case.action is not None:
            try:
                run, reasons = case.action(self)
            except Exception as exc:  # the battery's own failure must not stop the battery
                run, reasons = Run(None, 0.0, "", ""), [f"battery error: {type(exc).__name__}: {exc}"]
        else:
            args = list(case.args)
            if case.sentinel and args and args[0] == "ingest":
                args.append(str(self.sentinel))
            run = self.runner.run(args, timeout=case.timeout * self.scale, env=case.env, user=case.user)
            reasons = self.judge(case, args, run)
        after = snapshot(store)
        problems = after.problems() + kept(before, after, case.may_change)
        state = "consistent" if not problems else "; ".join(problems)
        if before.records and not problems:
            state = "unchanged" if after.records == before.records else "consistent, all kept"
        reasons += [f"store: {p}" for p in problems]
        if case.check is not None and not reasons:
            extra = case.check(run, self)
            if extra:
                reasons.append(extra)
        return self._record(case, run.rc if not run.killed else run.killed, run.secs, last_line(run.stderr), state,
                            "PASS" if not reasons else "FAIL", reasons)

    def _record(self, case: Case, rc: Any, secs: float, last: str, state: str, verdict: str,
                reasons: list[str]) -> Result:
        r = Result(case.name, case.group, case.why, rc, round(secs, 1), last, state, verdict, reasons)
        self.results.append(r)
        cell = lambda s: str(s).replace("|", "/").replace("\n", " ")  # noqa: E731
        print(f"| {r.group} | {r.name} | {cell(r.rc)} | {r.secs} | {cell(r.last)[:120]} | {cell(r.store)[:60]} | "
              f"{r.verdict}{': ' + cell('; '.join(r.reasons))[:200] if r.reasons else ''} |", flush=True)
        return r

    def judge(self, case: Case, args: list[str], run: Run) -> list[str]:
        reasons = []
        if run.killed:
            return [f"killed: {run.killed}"]
        reasons += stderr_problems(run.stderr)
        if "Traceback (most recent call last)" in run.stdout:
            reasons.append("traceback on stdout")
        reasons += json_problems(args, run.stdout)
        if not case.budget_ok and "took longer than input_budget" in run.stderr:
            reasons.append("used up input_budget (a slow path, not a limit)")
        errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error")]
        naming = [ln for ln in errors if case.key.lower() in ln.lower()]
        named = not case.key or bool(naming)
        if naming and case.reason and not any(re.search(case.reason, ln, re.I) for ln in naming):
            reasons.append(f"wrong reason: {naming[0][-80:]!r}")
        rc = run.rc
        if case.expect == "reject":
            if rc not in (1, 2):
                reasons.append(f"expected a rejection (exit 1/2), got exit {rc}")
            elif not named:
                reasons.append(f"no error line names {case.key!r}")
        elif case.expect == "store":
            if rc != 0:
                reasons.append(f"expected it stored (exit 0), got exit {rc}" + (f": {errors[0][:100]}" if errors
                                                                                  else ""))
        elif case.expect == "any":
            if rc not in (0, 1):
                reasons.append(f"expected exit 0 or 1, got {rc}")
            elif rc == 1 and not named:
                reasons.append(f"no error line names {case.key!r}")
        elif case.expect == "answer":
            if rc not in (0, 3):
                reasons.append(f"expected an answer or a refusal (exit 0/3), got exit {rc}"
                               + (f": {errors[0][:100]}" if errors else ""))
        elif case.expect == "usage":
            if rc != 2:
                reasons.append(f"expected a usage error (exit 2), got {rc}")
            elif not errors and "Usage:" not in run.stderr and "│" not in run.stderr:
                reasons.append("exit 2 without a message")
        if args and args[0] == "ingest" and case.sentinel and rc in (0, 1) and "--json" in args:
            try:
                items = json.loads(run.stdout).get("items", [])
            except (ValueError, AttributeError):
                items = []
            if not any(it.get("origin", "").startswith(str(self.sentinel)) and it.get("status") != "failed"
                       for it in items):
                reasons.append("the run did not reach the next input (sentinel missing from the report)")
        return reasons

    # ---- setup --------------------------------------------------------------------------------------------------
    def seed(self) -> None:
        self.inp.mkdir(parents=True, exist_ok=True)
        (self.inp / "seed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in SEED))
        self.sentinel.write_text(json.dumps(SENTINEL) + "\n")
        run = self.runner.run(["ingest", str(self.inp / "seed.jsonl"), str(self.sentinel), "--quiet"], timeout=600)
        if run.rc != 0:
            raise SystemExit(f"seeding failed: {run.rc} {run.stderr[-2000:]}")
        self.seed_snapshot = snapshot(self.store)
        print(f"seeded {len(self.seed_snapshot.records)} articles in {run.secs:.1f} s", file=sys.stderr)

    def daemon_pid(self, store: Path | None = None) -> int | None:
        try:
            return int(json.loads(((store or self.store) / ".articleqa.answer.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def stop_daemon(self, store: Path | None = None) -> None:
        pid = self.daemon_pid(store)
        if pid:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGTERM)
            except OSError:
                return
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except OSError:
                    return
                time.sleep(0.1)

    def copy_store(self, name: str) -> Path:
        dst = self.work / name
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(self.store, dst, ignore=shutil.ignore_patterns(".articleqa.answer*", ".articleqa-cache"))
        return dst


# ----------------------------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------------------------


def write_inputs(b: Battery) -> None:  # noqa: C901 - one place that makes every hostile file
    d = b.inp
    good = article_text
    os.mkfifo(d / "fifo.txt")
    os.symlink("/dev/zero", d / "zero.txt")
    os.symlink("/dev/urandom", d / "urandom.html")
    (d / "loop").mkdir()
    os.symlink("..", d / "loop" / "up")
    os.symlink("self.txt", d / "loop" / "self.txt")
    (d / "loop" / "inner.txt").write_text("Inner report\n\n" + good(11))
    os.symlink("selfref.txt", d / "selfref.txt")
    # A folder with an unreadable file and an unreadable subfolder next to a readable article.
    perm = d / "perm"
    (perm / "locked").mkdir(parents=True)
    (perm / "ok.txt").write_text("Readable report\n\n" + good(12))
    (perm / "secret.txt").write_text("Secret report\n\n" + good(13))
    (perm / "locked" / "inside.txt").write_text("Inside report\n\n" + good(14))
    os.chmod(perm / "secret.txt", 0)
    os.chmod(perm / "locked", 0)
    # Names: a newline, bytes that are not UTF-8, a leading dash.
    (d / "new\nline.txt").write_text("Newline name\n\n" + good(15))
    with open(os.fsencode(d) + b"/caf\xe9-latin1-name.txt", "wb") as fh:
        fh.write(("Latin name\n\n" + good(16)).encode())
    (d / "-rf.txt").write_text("Dash name\n\n" + good(17))
    (d / "empty.txt").write_bytes(b"")
    (d / "one.txt").write_bytes(b"x")
    (d / "gzip.txt").write_bytes(gzip.compress(good(18).encode() * 50))
    zbuf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("article.txt", good(19))
    (d / "zip.txt").write_bytes(zbuf.getvalue())
    (d / "png.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + os.urandom(2000))
    (d / "utf16bom.txt").write_bytes(("UTF-16 report\n\n" + good(20)).encode("utf-16"))
    (d / "utf16nobom.txt").write_bytes(("UTF-16 report\n\n" + good(21)).encode("utf-16-le"))
    (d / "utf32bom.txt").write_bytes(("UTF-32 report\n\n" + good(22)).encode("utf-32"))
    (d / "crlf-mixed.txt").write_bytes(("Mixed endings\r\n\r\n" + good(23).replace(". ", ".\r") .replace(",", ",\n"))
                                       .encode())
    with open(d / "sparse-1g.txt", "wb") as fh:
        fh.truncate(1 << 30)
    with open(d / "sparse-19m.txt", "wb") as fh:
        fh.truncate(19 << 20)
    (d / "latin1.txt").write_bytes(("Caf\u00e9 report\n\n" + good(24) + " The caf\u00e9 was full.").encode("latin-1"))
    # JSON.
    (d / "array-bad.json").write_text(json.dumps([{"title": f"t{i}"} for i in range(50_000)]))
    (d / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (d / "deep-obj.jsonl").write_text('{"a":' * 100_000 + "1" + "}" * 100_000 + "\n" + json.dumps(record(30)) + "\n")
    (d / "longline.jsonl").write_text(json.dumps({"id": "long", "text": good(31, sentences=60_000)}) + "\n"
                                      + json.dumps(record(32)) + "\n")
    (d / "dup-ids.jsonl").write_text(json.dumps(record(33, id="dup-1")) + "\n" + json.dumps(record(34, id="dup-1"))
                                     + "\n")
    odd = [record(40, id=12345), record(41, id=None), record(42, id=[1, 2]), record(43, id="i" * 100_000),
           record(44, url=5), record(45, url=["http://a.example/x"]), record(46, url="http://" + "u" * 100_000),
           record(47, id="../../etc/passwd"), record(48, id=""), record(49, id="a::b::0000"),
           record(50, url="javascript:alert(1)"), record(51, id=1e308), record(52, id=True)]
    (d / "odd-fields.jsonl").write_text("".join(json.dumps(r) + "\n" for r in odd))
    dates = [record(160 + k, publish_date=v) for k, v in enumerate(
        ["2023-02-30", "0000-00-00", 10**20, "9999-12-31", "0001-01-01", "-0001-01-01", "2025-09-04T25:61:00",
         "Thu, 99 Foo 2025", "1e20", "99999-01-01", "2025-W36", None, ["2025-01-01"]])]
    (d / "dates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dates))
    (d / "big-title.jsonl").write_text(json.dumps(record(70, title="T" * 1_000_000, author="A" * 500_000,
                                                         source="S" * 500_000)) + "\n")
    (d / "ctrl-everywhere.jsonl").write_text(json.dumps(record(
        71, title="\u202eevil\u202c \u200b\u200b title\x07", author="\x1b]0;pwned\x07Ana",
        source="\x00Src\x9b")) + "\n")
    (d / "many-tiny.jsonl").write_text("".join(json.dumps({"id": f"t{i}", "text": "Too short."}) + "\n"
                                               for i in range(3000)))
    # PDF.
    good_pdf = make_pdf([text_stream(good(80).encode())])
    (d / "good.pdf").write_bytes(good_pdf)
    (d / "truncated.pdf").write_bytes(good_pdf[: len(good_pdf) // 2])
    (d / "empty-pages.pdf").write_bytes(make_pdf([b""] * 10_000))
    (d / "ctrl.pdf").write_bytes(make_pdf([text_stream(bytes(range(1, 32)) * 3 + b"\xfb\xfc " + good(81).encode()
                                                       + bytes(range(1, 32)))]))
    (d / "flate-bomb.pdf").write_bytes(make_pdf([text_stream(b"x") + b" " * (400 << 20)], flate=True))
    (d / "not-a-pdf.pdf").write_text("Not a PDF at all\n\n" + good(82))
    try:
        import pypdf

        w = pypdf.PdfWriter(clone_from=io.BytesIO(good_pdf))
        w.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
        buf = io.BytesIO()
        w.write(buf)
        (d / "encrypted.pdf").write_bytes(buf.getvalue())
    except Exception as exc:  # no pypdf in this Python: the case reports it
        (d / "encrypted.pdf").write_text(f"could not make an encrypted PDF: {exc}")
    # HTML.
    (d / "many-p.html").write_text("<html><body>" + "<p>a</p>" * 1_000_000 + "</body></html>")
    (d / "big-script.html").write_text(page_html(90, post="<script>" + "var x = 1;" * 900_000 + "</script>"))
    (d / "big-style.html").write_text(page_html(91, head="<style>" + "p{color:red}" * 700_000 + "</style>"))
    (d / "unclosed-style.html").write_text(page_html(92) + "<style>" * 500_000)
    (d / "charset-lie.html").write_text(page_html(93).replace("<meta charset='utf-8'>", "<meta charset='utf-16'>"))
    (d / "charset-utf7.html").write_text(page_html(94).replace("<meta charset='utf-8'>", "<meta charset='utf-7'>"))
    (d / "entities.html").write_text(page_html(95, pre="<p>" + "&amp;amp;" * 300_000 + "</p>"))
    (d / "tricks.html").write_text(page_html(
        96, title="\u202eTricky\u202c title\u200b", head="<base href='javascript:alert(1)//'><meta http-equiv='refresh'"
        " content='0;url=javascript:alert(2)'><link rel='canonical' href='javascript:alert(3)'>"))
    (d / "lt-flood.html").write_text(page_html(97, pre="<p>" + "<" * 2_000_000 + "</p>"))
    (d / "comment-open.html").write_text(page_html(98) + "<!--" + "x" * 1_000_000)
    (d / "huge-title.html").write_text(page_html(99, title="T" * 2_000_000))
    # Growing file: written to while it is read.
    (d / "grow.txt").write_text("Growing report\n\n" + good(100))
    # Disk-full corpus.
    full = d / "many"
    full.mkdir()
    for i in range(40):
        (full / f"a{i:02d}.jsonl").write_text(json.dumps(record(200 + i, id=f"many-{i}", text=article_text(
            200 + i, sentences=60))) + "\n")
    disk = d / "disk"  # articles no other case stores: the full disk must see them all as new
    disk.mkdir()
    for i in range(40):
        (disk / f"k{i:02d}.jsonl").write_text(json.dumps(record(400 + i, id=f"disk-{i}", text=article_text(
            400 + i, sentences=30))) + "\n")
    conc = d / "conc"
    conc.mkdir()
    for i in range(16):
        (conc / f"c{i:02d}.jsonl").write_text(json.dumps(record(300 + i, id=f"conc-{i}", text=article_text(
            300 + i, sentences=40))) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# the cases
# ----------------------------------------------------------------------------------------------------------------


def ingest(*inputs: str) -> list[str]:
    return ["ingest", *inputs, "--json"]


def stored_check(article_id: str, want: Callable[[dict], str]) -> Callable[[Run, Battery], str]:
    """A check that reads the stored record of `article_id` through `articles list --json` and applies `want`."""
    def check(run: Run, b: Battery) -> str:
        listed = b.runner.run(["articles", "list", "--json"], timeout=120)
        try:
            rows = {r["id"]: r for r in json.loads(listed.stdout)}
        except ValueError:
            return "articles list --json is not JSON"
        row = rows.get(article_id)
        return f"{article_id} not stored" if row is None else want(row)
    return check


def file_cases(b: Battery) -> list[Case]:
    d = b.inp
    p = lambda name: str(d / name)  # noqa: E731
    return [
        Case("fifo", "files", ingest(p("fifo.txt")), "reject", "fifo.txt", "a named pipe with no writer",
             reason="regular file|pipe|device"),
        Case("dev-zero-link", "files", ingest(p("zero.txt")), "reject", "zero.txt", "x.txt -> /dev/zero",
             reason="regular file|pipe|device"),
        Case("dev-urandom-link", "files", ingest(p("urandom.html")), "reject", "urandom.html",
             "x.html -> /dev/urandom", reason="regular file|pipe|device"),
        Case("dev-zero-path", "files", ingest("/dev/zero"), "reject", "/dev/zero", "/dev/zero itself"),
        Case("symlink-loop-dir", "files", ingest(p("loop")), "any", "loop", "a folder whose link points up, and a "
             "self-link inside", check=stored_check(_file_id(d / "loop" / "inner.txt"), lambda r: "")),
        Case("self-link", "files", ingest(p("selfref.txt")), "reject", "selfref.txt", "a link to itself",
             reason="link|loop"),
        Case("unreadable-as-nobody", "files", [], "custom", "perm", "a folder with a 000 file and a 000 subfolder, "
             "ingested as nobody", action=_unreadable, needs_root=True),
        Case("newline-name", "files", ingest(p("new\nline.txt")), "store", "", "a file name with a newline",
             check=_no_raw_newline_in_errors),
        Case("latin1-name", "files", ingest(os.fsdecode(bytes(d) + b"/caf\xe9-latin1-name.txt")), "store", "",
             "a file name that is not UTF-8"),
        Case("leading-dash", "files", ["ingest", "--json", "--", p("-rf.txt")], "store", "", "a file named -rf.txt "
             "after --"),
        Case("leading-dash-no-sep", "cli", ["ingest", "--json", "-rf.txt"], "usage", "", "the same name without --",
             sentinel=False),
        Case("zero-bytes", "files", ingest(p("empty.txt")), "reject", "empty.txt", "0 bytes"),
        Case("one-byte", "files", ingest(p("one.txt")), "reject", "one.txt", "1 byte"),
        Case("gzip-as-txt", "files", ingest(p("gzip.txt")), "reject", "gzip.txt", "a .txt that is gzip"),
        Case("zip-as-txt", "files", ingest(p("zip.txt")), "reject", "zip.txt", "a .txt that is a zip"),
        Case("png-as-txt", "files", ingest(p("png.txt")), "reject", "png.txt", "a .txt that is a PNG"),
        Case("utf16-bom", "files", ingest(p("utf16bom.txt")), "store", "", "UTF-16 with BOM"),
        Case("utf16-no-bom", "files", ingest(p("utf16nobom.txt")), "any", "utf16nobom.txt", "UTF-16 without BOM"),
        Case("utf32-bom", "files", ingest(p("utf32bom.txt")), "store", "", "UTF-32 with BOM"),
        Case("cr-mixed-endings", "files", ingest(p("crlf-mixed.txt")), "store", "", "CR, CRLF and LF mixed"),
        Case("latin1-text", "files", ingest(p("latin1.txt")), "store", "", "a latin-1 file"),
        Case("sparse-1g", "files", ingest(p("sparse-1g.txt")), "reject", "sparse-1g.txt", "a 1 GiB sparse file"),
        Case("sparse-19m", "files", ingest(p("sparse-19m.txt")), "reject", "sparse-19m.txt",
             "19 MiB of NULs (under max_file_mb)"),
        Case("growing-file", "files", [], "custom", "grow.txt", "a file appended to at full speed while read",
             action=_growing),
        Case("deep-folder", "files", [], "custom", "deep", "a folder nested 1,500 levels deep with an article at the "
             "bottom", action=_deep_folder),
    ]


def _file_id(path: Path) -> str:
    import hashlib

    return "file-" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:16]


def _no_raw_newline_in_errors(run: Run, b: Battery) -> str:
    return "a raw newline split an error line" if re.search(r"^line\.txt", run.stderr, re.M) else ""


def _unreadable(b: Battery) -> tuple[Run, list[str]]:
    store = b.work / "nobody-store"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir()
    os.chown(store, int(NOBODY), int(NOBODY))
    for path in (b.work, b.inp):
        os.chmod(path, 0o755)
    xdg = b.work / "xdg-nobody"
    xdg.mkdir(exist_ok=True)
    os.chown(xdg, int(NOBODY), int(NOBODY))
    args = ingest(str(b.inp / "perm"))
    run = b.runner.run(args, env={"ARTICLEQA_STORE_PATH": str(store), "HOME": "/tmp", "XDG_CACHE_HOME": str(xdg)},
                       user=NOBODY)
    reasons = [f"killed: {run.killed}"] if run.killed else []
    reasons += stderr_problems(run.stderr) + json_problems(args, run.stdout)
    errs = "\n".join(ln for ln in run.stderr.splitlines() if ln.startswith("error"))
    if "secret.txt" not in errs:
        reasons.append("no error line names the unreadable secret.txt")
    if "locked" not in errs:
        reasons.append("no error line names the unreadable folder locked/")
    try:
        items = json.loads(run.stdout)["items"]
    except (ValueError, KeyError, TypeError):
        items = []
    if not any(it["origin"].endswith("ok.txt") and it["status"] == "added" for it in items):
        reasons.append("the readable ok.txt next to them was not stored")
    return run, reasons


def _growing(b: Battery) -> tuple[Run, list[str]]:
    path = b.inp / "grow.txt"
    stop = threading.Event()

    def grow() -> None:
        chunk = (" ".join(_NOUNS) + ". ").encode() * 2000  # 400 KB, every 50 ms: 8 MB/s for up to 60 s
        written = 0
        with open(path, "ab") as fh:
            while not stop.is_set() and written < (480 << 20):
                fh.write(chunk)
                fh.flush()
                written += len(chunk)
                time.sleep(0.05)

    proc = b.runner.start(ingest(str(path), str(b.sentinel)))
    t0 = time.monotonic()
    th = threading.Thread(target=grow, daemon=True)
    th.start()
    run = b.runner.wait(proc, 150 * b.scale, t0)
    stop.set()
    th.join()
    path.write_text("Growing report\n\n" + article_text(100))
    reasons = [f"killed: {run.killed}"] if run.killed else []
    reasons += stderr_problems(run.stderr) + json_problems(["--json"], run.stdout)
    if run.peak_mb > 1500:
        reasons.append(f"peak RSS {run.peak_mb:.0f} MB while reading a file limited to max_file_mb")
    return run, reasons


def _deep_folder(b: Battery) -> tuple[Run, list[str]]:
    root = b.work / "deep"
    subprocess.run(["rm", "-rf", str(root)])
    path = root
    path.mkdir()
    for _ in range(1500):  # os.makedirs recurses: too deep for it
        path = path / "d"
        path.mkdir()
    (path / "bottom.txt").write_text("Bottom report\n\n" + article_text(101))
    (root / "top.txt").write_text("Top report\n\n" + article_text(102))
    args = ingest(str(root), str(b.sentinel))
    run = b.runner.run(args, timeout=150 * b.scale)
    reasons = b.judge(Case("deep-folder", "files", expect="any", key="deep"), args, run)
    try:
        items = json.loads(run.stdout)["items"]
    except (ValueError, KeyError, TypeError):
        items = []
    if not any(it["origin"].endswith("top.txt") and it["status"] != "failed" for it in items):
        reasons.append("top.txt (one level down) was not stored")
    return run, reasons


def json_cases(b: Battery) -> list[Case]:
    p = lambda name: str(b.inp / name)  # noqa: E731

    def title_len(r: dict) -> str:
        worst = max(len(r.get(k) or "") for k in ("title", "author", "source", "url"))
        return f"a stored metadata field of {worst:,} characters" if worst > 1000 else ""

    def clean_fields(r: dict) -> str:
        bad = [k for k in ("title", "author", "source") if re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u200b]",
                                                                      r.get(k) or "")]
        return f"control/bidi characters kept in {bad}" if bad else ""

    def http_url_only(r: dict) -> str:
        return f"stored url {r['url']!r} is not http(s)" if r.get("url") and not r["url"].startswith("http") else ""

    return [
        Case("array-50k-bad", "json", ingest(p("array-bad.json")), "reject", "array-bad.json",
             "a JSON array of 50,000 records without text"),
        Case("deep-100k-json", "json", ingest(p("deep.json")), "reject", "deep.json", "100,000 nested arrays"),
        Case("deep-object-jsonl", "json", ingest(p("deep-obj.jsonl")), "any", "deep-obj.jsonl",
             "a 100,000-level object on line 1, a good record on line 2"),
        Case("long-line-jsonl", "json", ingest(p("longline.jsonl")), "any", "longline.jsonl",
             "one 15 MB record (60,000 sentences), then a good one"),
        Case("duplicate-ids", "json", ingest(p("dup-ids.jsonl")), "any", "dup-ids.jsonl",
             "one id twice with different text in one file"),
        Case("odd-id-url-fields", "json", ingest(p("odd-fields.jsonl")), "any", "odd-fields.jsonl",
             "ids/urls that are numbers, null, lists, 100 KB strings, '../', '::', javascript:",
             check=stored_check("rec-50", http_url_only)),
        Case("hostile-dates", "json", ingest(p("dates.jsonl")), "any", "dates.jsonl",
             "2023-02-30, 0000-00-00, 10^20, 9999-12-31, -0001, W36, null, a list"),
        Case("megabyte-title", "json", ingest(p("big-title.jsonl")), "any", "big-title.jsonl",
             "1 MB title, 500 KB author and source", check=stored_check("rec-70", title_len)),
        Case("control-bidi-fields", "json", ingest(p("ctrl-everywhere.jsonl")), "any", "ctrl-everywhere",
             "RTL override, zero-width, OSC title escape, NUL, C1 in fields", check=stored_check("rec-71",
                                                                                              clean_fields)),
        Case("3000-tiny-records", "json", ingest(p("many-tiny.jsonl")), "reject", "many-tiny.jsonl",
             "3,000 records each too short to be an article"),
    ]


def pdf_cases(b: Battery) -> list[Case]:
    p = lambda name: str(b.inp / name)  # noqa: E731
    return [
        Case("pdf-truncated", "pdf", ingest(p("truncated.pdf")), "reject", "truncated.pdf", "half a PDF"),
        Case("pdf-encrypted", "pdf", ingest(p("encrypted.pdf")), "reject", "encrypted.pdf", "user password set"),
        Case("pdf-10k-empty-pages", "pdf", ingest(p("empty-pages.pdf")), "reject", "empty-pages.pdf",
             "10,000 pages without text"),
        Case("pdf-control-chars", "pdf", ingest(p("ctrl.pdf")), "any", "ctrl.pdf", "text full of control bytes"),
        Case("pdf-flate-bomb", "pdf", ingest(p("flate-bomb.pdf")), "any", "flate-bomb.pdf",
             "a 400 MB content stream in a 400 KB file"),
        Case("pdf-that-is-text", "pdf", ingest(p("not-a-pdf.pdf")), "reject", "not-a-pdf.pdf", "a .pdf that is text"),
    ]


def html_cases(b: Battery) -> list[Case]:
    p = lambda name: str(b.inp / name)  # noqa: E731

    def readable(article_marker: str) -> Callable[[Run, Battery], str]:
        def check(run: Run, bb: Battery) -> str:
            try:
                items = json.loads(run.stdout)["items"]
            except (ValueError, KeyError, TypeError):
                return ""
            titles = [it.get("title", "") for it in items if it.get("status") in ("added", "updated", "unchanged")
                      and article_marker in it.get("origin", "")]
            junk = [t for t in titles if t and not re.search(r"[A-Za-z]{3}", t)]
            return f"stored as mojibake (title {junk[0][:30]!r})" if junk else ""
        return check

    return [
        Case("million-p", "html", ingest(p("many-p.html")), "reject", "many-p.html", "1,000,000 one-letter <p>s"),
        Case("9mb-script", "html", ingest(p("big-script.html")), "store", "", "an article with a 9 MB inline script"),
        Case("8mb-style", "html", ingest(p("big-style.html")), "store", "", "an article with an 8 MB <style>"),
        Case("unclosed-styles", "html", ingest(p("unclosed-style.html")), "any", "unclosed-style.html",
             "an article followed by 500,000 unclosed <style> tags"),
        Case("charset-lie-utf16", "html", ingest(p("charset-lie.html")), "store", "",
             "ASCII bytes under <meta charset=utf-16>", check=readable("charset-lie")),
        Case("charset-utf7", "html", ingest(p("charset-utf7.html")), "store", "", "<meta charset=utf-7>",
             check=readable("charset-utf7")),
        Case("entity-flood", "html", ingest(p("entities.html")), "store", "", "300,000 &amp;amp; entities"),
        Case("base-refresh-canonical", "html", ingest(p("tricks.html")), "store", "",
             "javascript: in <base>, <meta refresh>, canonical; RTL override in the title",
             check=stored_check(_file_id(b.inp / "tricks.html"), lambda r: (
                 f"url {r['url']!r} stored" if r.get("url") and not r["url"].startswith("http") else
                 "bidi override kept in the title" if "\u202e" in r.get("title", "") else ""))),
        Case("lt-flood", "html", ingest(p("lt-flood.html")), "any", "lt-flood.html", "2,000,000 '<' in a paragraph"),
        Case("unterminated-comment", "html", ingest(p("comment-open.html")), "any", "comment-open.html",
             "an article, then '<!--' and 1 MB"),
        Case("2mb-title", "html", ingest(p("huge-title.html")), "any", "huge-title.html", "a 2 MB <title>",
             check=stored_check(_file_id(b.inp / "huge-title.html"), lambda r: (
                 f"a stored title of {len(r['title']):,} characters" if len(r.get("title") or "") > 1000 else ""))),
    ]


def http_cases(b: Battery) -> list[Case]:
    s = b.server
    u = lambda path: s.base + path  # noqa: E731
    return [
        Case("redirect-loop", "http", ingest(u("/loop")), "reject", "/loop", "302 to itself"),
        Case("redirect-50-hops", "http", ingest(u("/chain/50")), "reject", "/chain/50", "a 50-hop redirect chain"),
        Case("redirect-to-file", "http", ingest(u("/to-file")), "reject", "/to-file", "302 to file:///etc/passwd"),
        Case("redirect-to-ftp", "http", ingest(u("/to-ftp")), "reject", "/to-ftp", "302 to ftp://"),
        Case("redirect-to-refused", "http", ingest(u("/to-closed")), "reject", "/to-closed",
             "302 to a port that refuses"),
        Case("gzip-bomb", "http", ingest(u("/gzip-bomb")), "reject", "/gzip-bomb", "1 MB of gzip that inflates "
             "to 1 GiB"),
        Case("gzip-bomb-double", "http", ingest(u("/gzip-bomb-double")), "reject", "/gzip-bomb-double",
             "'Content-Encoding: gzip, gzip': 4 KB that inflates to 4 GiB"),
        Case("deflate-bomb", "http", ingest(u("/deflate-bomb")), "reject", "/deflate-bomb",
             "deflate: 500 KB that inflates to 512 MiB"),
        Case("content-length-short", "http", ingest(u("/length-short")), "reject", "/length-short",
             "Content-Length 100,000, a 3 KB body, then close"),
        Case("content-length-long", "http", ingest(u("/length-long")), "any", "/length-long",
             "Content-Length 60 on a 3 KB page"),
        Case("never-answers", "http", ingest(f"http://127.0.0.1:{s.silent_port}/x"), "reject",
             f"127.0.0.1:{s.silent_port}", "a port that accepts and never answers", budget_ok=True),
        Case("drip-headers", "http", ingest(u("/drip-headers")), "reject", "/drip-headers",
             "headers dripped a byte every 2 s", budget_ok=True),
        Case("error-page-200", "http", ingest(u("/error-200")), "reject", "/error-200", "a 200 whose body is a 404 "
             "page"),
        Case("charset-header-utf16", "http", ingest(u("/charset-utf16")), "store", "",
             "ASCII page served as charset=utf-16"),
        Case("charset-header-utf7", "http", ingest(u("/charset-utf7")), "store", "", "page served as charset=utf-7"),
        Case("charset-header-bogus", "http", ingest(u("/charset-bogus")), "store", "", "an unknown charset"),
        Case("octet-stream", "http", ingest(u("/octet")), "reject", "/octet", "4 KB of random bytes"),
        Case("http-huge-title", "http", ingest(u("/huge-title")), "any", "/huge-title", "a 1 MB <title> over HTTP",
             check=stored_check(_url_id(u("/huge-title")), lambda r: (
                 f"a stored title of {len(r['title']):,} characters" if len(r.get("title") or "") > 1000 else ""))),
        Case("http-million-p", "http", ingest(u("/many-p")), "any", "/many-p", "1,000,000 <p>s then an article"),
        Case("http-unclosed-scripts", "http", ingest(u("/unclosed-scripts")), "any", "/unclosed-scripts",
             "an article then 400,000 unclosed <script>"),
        Case("scheme-file", "http", ingest("file:///etc/passwd"), "reject", "file:///etc/passwd", "file:// URL"),
        Case("scheme-ftp", "http", ingest("ftp://127.0.0.1/a.txt"), "reject", "ftp://", "ftp:// URL"),
        Case("scheme-data", "http", ingest("data:text/html,<p>hello</p>"), "reject", "data:", "a data: URL"),
        Case("scheme-javascript", "http", ingest("javascript:alert(1)"), "reject", "javascript:", "javascript: URL"),
        Case("refused-port", "http", ingest(f"http://127.0.0.1:{s.closed_port}/"), "reject",
             f"127.0.0.1:{s.closed_port}", "a port that refuses"),
        Case("idn-host", "http", ingest("http://bücher.invalid/artikel"), "reject", "invalid", "an IDN host"),
        Case("bad-idn-host", "http", ingest("http://xn--a.invalid/"), "reject", "invalid", "an invalid punycode host"),
        Case("100kb-url", "http", ingest(u("/page/1?" + "q" * 100_000)), "any", "/page/1", "a 100 KB URL"),
        Case("bad-port-url", "http", ingest("http://127.0.0.1:99999/x"), "reject", "99999", "port 99999"),
    ]


def _url_id(url: str) -> str:
    import hashlib
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return "url-" + hashlib.sha1(urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")).encode()
                                 ).hexdigest()[:16]


def feed_cases(b: Battery) -> list[Case]:
    u = lambda path: b.server.base + path  # noqa: E731
    return [
        Case("feed-20k-entries", "feed", ingest(u("/feed/big.xml")), "reject", "/feed/big.xml",
             "an RSS feed of 20,000 entries, every link a 404", timeout=300),
        Case("feed-billion-laughs", "feed", ingest(u("/feed/laughs.xml")), "any", "/feed/laughs.xml",
             "XML entity expansion (10^9) in an RSS feed"),
        Case("feed-self-loop", "feed", ingest(u("/feed/self.xml")), "any", "/feed/self.xml",
             "entries linking to the feed itself, to a feed linking back, to a redirect loop"),
        Case("feed-schemes", "feed", ingest(u("/feed/schemes.xml")), "any", "javascript:",
             "entry links javascript:, file:, data:, ftp:"),
        Case("feed-hostile-fields", "feed", ingest(u("/feed/fields.xml")), "any", "/feed/fields.xml",
             "an entry with a 1 MB title, a bogus date, ESC in the author",
             check=stored_check(_url_id(u("/page/604")), lambda r: (
                 f"a stored title of {len(r['title']):,} characters" if len(r.get("title") or "") > 1000 else ""))),
    ]


def ask_cases(b: Battery) -> list[Case]:
    a = lambda q, *more: ["ask", q, *more, "--json"]  # noqa: E731
    q = "When did the Portvale ferry pier reopen?"
    return [
        Case("warm-up", "ask", a(q), "answer", "", "a plain question (starts the answer daemon)"),
        Case("q-120kb", "ask", a("Who said " + "why " * 30_000 + "?"), "answer", "", "a 120 KB question"),
        Case("q-whitespace", "ask", a(" \t \u3000 \u00a0 "), "answer", "", "only whitespace"),
        Case("q-zero-width-rtl", "ask", a("\u200b\u200e\u200f\u202e\u2066\ufeff"), "answer", "",
             "only zero-width and RTL marks"),
        Case("q-emoji", "ask", a("🚢⚓🌊❓"), "answer", "", "only emoji"),
        Case("q-punctuation", "ask", a("?!?.,;:—…"), "answer", "", "only punctuation"),
        Case("q-stopwords", "ask", a("the of and to a in is it"), "answer", "", "only stopwords"),
        Case("q-control", "ask", ["ask", "Who reopened the pier\x1b[2J\x07\x08?"], "answer", "",
             "ESC/BEL/BS in the question, text output", check=lambda r, bb: "raw ESC on stdout" if "\x1b" in r.stdout
             else ""),
        Case("q-where-filter", "ask", a('{"$or": [{"source": {"$ne": ""}}]}', "--source", '{"$ne": ""}'), "answer", "",
             "Chroma where-filter lookalikes as question and --source"),
        Case("q-format-strings", "ask", a("{0} %s %(x)s {__class__} %n ${HOME}?"), "answer", "",
             "format-string placeholders"),
        Case("q-regex", "ask", a("(((((.*+?[\\"), "answer", "", "regex metacharacters"),
        Case("q-past-huge-years", "ask", a("What happened at the pier in the past 99999999999 years?"), "answer", "",
             "a relative date far out of range"),
        Case("q-after-9999", "ask", a("What happened after December 9999?"), "answer", "", "after the last date"),
        Case("q-before-year-1", "ask", a("What happened before January 1?"), "answer", "", "before year 1"),
        Case("q-feb-30", "ask", a("What happened on 30 February 2025?"), "answer", "", "an impossible date"),
        Case("refdate-0001", "ask", a("What happened at the pier last week?", "--reference-date", "0001-01-01"),
             "answer", "", "--reference-date 0001-01-01 with 'last week'"),
        Case("refdate-9999", "ask", a("What happened at the pier this year?", "--reference-date", "9999-12-31"),
             "answer", "", "--reference-date 9999-12-31"),
        Case("since-dotdot", "ask", a(q, "--since", "../"), "usage", "", "--since ../"),
        Case("since-huge", "ask", a(q, "--since", "99999-01-01"), "usage", "", "--since 99999-01-01"),
        Case("until-regex", "ask", a(q, "--until", "^.*$"), "usage", "", "--until ^.*$"),
        Case("since-after-until", "ask", a(q, "--since", "9999-12-31", "--until", "0001-01-01"), "answer", "",
             "--since after --until"),
        Case("source-path", "ask", a(q, "--source", "../../etc/passwd"), "answer", "", "--source ../../etc/passwd"),
        Case("source-empty", "ask", a(q, "--source", ""), "answer", "", "--source ''"),
        Case("source-100kb", "ask", a(q, "--source", "S" * 100_000), "answer", "", "--source of 100 KB"),
    ]


def cli_cases(b: Battery) -> list[Case]:
    return [
        Case("unknown-flag", "cli", ["ask", "Who?", "--frobnicate", "--json"], "usage", "", "an unknown flag"),
        Case("no-command-json", "cli", ["--json"], "usage", "", "--json alone"),
        Case("ingest-no-input", "cli", ["ingest", "--json"], "usage", "", "ingest without inputs", sentinel=False),
        Case("ask-two-questions", "cli", ["ask", "a?", "b?", "--json"], "usage", "", "two questions"),
        Case("mode-banana", "cli", ["ask", "Who?", "--mode", "banana", "--json"], "usage", "", "--mode banana"),
        Case("workers-zero", "cli", ["ingest", str(b.sentinel), "--workers", "0", "--json"], "usage", "",
             "--workers 0", sentinel=False),
        Case("workers-no-server", "cli", ["ingest", str(b.sentinel), "--workers", "4", "--json"], "usage", "",
             "--workers 4 without a Chroma server", sentinel=False),
        Case("chunk-size-negative", "cli", ["ingest", str(b.inp / "latin1.txt"), "--chunk-size", "-5", "--json"],
             "usage", "", "--chunk-size -5", sentinel=False, may_change={_file_id(b.inp / "latin1.txt")}),
        Case("store-empty-string", "cli", ["ask", "Who?", "--store", "", "--json"], "usage", "",
             "--store '' (an unset variable)", check=_cwd_untouched),
        Case("store-is-a-file", "cli", ["articles", "list", "--store", "/etc/hostname", "--json"], "usage", "",
             "--store naming a file"),
        Case("store-dev-null", "cli", ["ingest", str(b.sentinel), "--store", "/dev/null", "--json"], "usage", "",
             "--store /dev/null", sentinel=False),
        Case("collection-bad", "cli", ["articles", "list", "--collection", "../x y", "--json"], "usage", "",
             "--collection '../x y'"),
        Case("collection-long", "cli", ["articles", "list", "--collection", "c" * 5000, "--json"], "usage", "",
             "--collection of 5,000 characters"),
        Case("chroma-url-garbage", "cli", ["articles", "list", "--chroma-url", "not a url", "--json"], "usage", "",
             "--chroma-url 'not a url'"),
        Case("chroma-url-refused", "cli", ["articles", "list", "--chroma-url", f"http://127.0.0.1:"
                                           f"{b.server.closed_port}", "--json"], "usage", "",
             "--chroma-url to a refusing port"),
        Case("llm-url-javascript", "cli", ["ask", "When did the Portvale ferry pier reopen?", "--mode", "llm",
                                           "--llm-url", "javascript:alert(1)", "--json"], "answer", "",
             "--llm-url javascript:alert(1)", timeout=240),
        Case("delete-json", "cli", ["articles", "delete", "no-such-id", "--json"], "usage", "",
             "articles delete with --json (no such option)"),
        Case("delete-missing", "cli", ["articles", "delete", "no-such-id"], "custom", "", "delete an unknown id",
             action=lambda bb: _expect_rc(bb, ["articles", "delete", "no-such-id"], (1,), "no-such-id")),
    ]


def _cwd_untouched(run: Run, b: Battery) -> str:
    made = sorted(os.listdir(b.runner.cwd))
    return f"created {made} in the working directory" if made else ""


def _expect_rc(b: Battery, args: list[str], codes: tuple[int, ...], key: str) -> tuple[Run, list[str]]:
    run = b.runner.run(args)
    reasons = [f"killed: {run.killed}"] if run.killed else []
    reasons += stderr_problems(run.stderr) + json_problems(args, run.stdout)
    if run.rc not in codes:
        reasons.append(f"expected exit {codes}, got {run.rc}")
    if key and key not in run.stderr:
        reasons.append(f"no line names {key!r}")
    return run, reasons


def env_cases(b: Battery) -> list[Case]:
    q = ["ask", "When did the Portvale ferry pier reopen?", "--json"]
    sentinel_ingest = ["ingest", str(b.sentinel), "--json"]
    return [
        Case("env-budget-nan", "env", sentinel_ingest, "usage", "", "ARTICLEQA_INPUT_BUDGET=nan",
             env={"ARTICLEQA_INPUT_BUDGET": "nan"}, sentinel=False),
        Case("env-max-file-inf", "env", sentinel_ingest, "usage", "", "ARTICLEQA_MAX_FILE_MB=inf",
             env={"ARTICLEQA_MAX_FILE_MB": "inf"}, sentinel=False),
        Case("env-read-wait-negative", "env", q, "usage", "", "ARTICLEQA_READ_WAIT=-5",
             env={"ARTICLEQA_READ_WAIT": "-5"}),
        Case("env-top-k-zero", "env", q, "usage", "", "ARTICLEQA_TOP_K=0", env={"ARTICLEQA_TOP_K": "0"}),
        Case("env-http-timeout-zero", "env", sentinel_ingest, "usage", "", "ARTICLEQA_HTTP_TIMEOUT=0",
             env={"ARTICLEQA_HTTP_TIMEOUT": "0"}, sentinel=False),
        Case("env-include-broken-json", "env", sentinel_ingest, "usage", "", "ARTICLEQA_INCLUDE='[broken'",
             env={"ARTICLEQA_INCLUDE": "[broken"}, sentinel=False),
        Case("env-model-missing", "env", q + ["--local"], "usage", "", "ARTICLEQA_EMBEDDING_MODEL=/nonexistent",
             env={"ARTICLEQA_EMBEDDING_MODEL": "/nonexistent/model"}),
        Case("env-collection-empty", "env", ["articles", "list", "--json"], "usage", "", "ARTICLEQA_COLLECTION=''",
             env={"ARTICLEQA_COLLECTION": ""}),
    ]


# ---- concurrency -------------------------------------------------------------------------------------------------


def _json_ok(run: Run) -> bool:
    try:
        json.loads(run.stdout)
        return True
    except ValueError:
        return False


def _two_ingests(b: Battery) -> tuple[Run, list[str]]:
    conc = b.inp / "conc"
    first = b.runner.start(["ingest", str(conc), "--json"])
    t0 = time.monotonic()
    time.sleep(8)
    second = b.runner.run(["ingest", str(b.sentinel), "--json"], timeout=120)
    a = b.runner.wait(first, 600 * b.scale, t0)
    reasons = []
    if second.rc != 2 or "pid" not in second.stderr or not _json_ok(second):
        reasons.append(f"second ingest: exit {second.rc}, {last_line(second.stderr)!r} (want exit 2 naming the "
                       "holder, JSON)")
    if second.secs > 30:
        reasons.append(f"second ingest waited {second.secs:.0f} s")
    if a.rc != 0:
        reasons.append(f"first ingest: exit {a.rc or a.killed}: {last_line(a.stderr)}")
    reasons += stderr_problems(a.stderr) + stderr_problems(second.stderr)
    snap = snapshot(b.store)
    missing = [f"conc-{i}" for i in range(16) if f"conc-{i}" not in snap.records]
    if missing:
        reasons.append(f"not stored: {missing[:4]}")
    return Run(f"{a.rc}/{second.rc}", a.secs, a.stdout, second.stderr), reasons  # type: ignore[arg-type]


def _delete_during_ingest(b: Battery) -> tuple[Run, list[str]]:
    many = b.inp / "many"
    files = sorted(many.glob("*.jsonl"))[:12]
    first = b.runner.start(["ingest", *map(str, files), "--json"])
    t0 = time.monotonic()
    time.sleep(8)
    dele = b.runner.run(["articles", "delete", "conc-0"], timeout=120)
    a = b.runner.wait(first, 600 * b.scale, t0)
    reasons = []
    if dele.rc == 0 and "conc-0" in snapshot(b.store).records:
        reasons.append("delete said ok but the article is still there")
    if dele.rc not in (0, 2) or (dele.rc == 2 and "pid" not in dele.stderr):
        reasons.append(f"delete: exit {dele.rc}, {last_line(dele.stderr)!r}")
    if a.rc != 0:
        reasons.append(f"ingest: exit {a.rc or a.killed}: {last_line(a.stderr)}")
    reasons += stderr_problems(dele.stderr) + stderr_problems(a.stderr)
    return Run(f"{a.rc}/{dele.rc}", a.secs, a.stdout, dele.stderr), reasons  # type: ignore[arg-type]


def _kill_delete(b: Battery) -> tuple[Run, list[str]]:
    """SIGKILL `articles delete` of 12 articles part-way, then check the next command sees a consistent store."""
    ids = [f"many-{i}" for i in range(12)]
    present = [i for i in ids if i in snapshot(b.store).records]
    reasons = []
    proc = b.runner.start(["articles", "delete", *present])
    t0 = time.monotonic()
    deadline = t0 + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if any(i not in snapshot(b.store).records for i in present):
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    mid = snapshot(b.store)
    listed = b.runner.run(["articles", "list", "--json"], timeout=120)
    if listed.rc != 0 or not _json_ok(listed):
        reasons.append(f"articles list after the kill: exit {listed.rc}, {last_line(listed.stderr)!r}")
    again = b.runner.run(["ingest", str(b.sentinel), "--json"], timeout=300)
    after = snapshot(b.store)
    if again.rc != 0:
        reasons.append(f"ingest after the kill: exit {again.rc}, {last_line(again.stderr)!r}")
    others = [r for r in mid.records if r not in present]
    lost = [r for r in others if r not in after.records]
    if lost:
        reasons.append(f"lost articles not being deleted: {lost[:3]}")
    half = mid.problems()
    note = f"left half-deleted: {half[0]}" if half else "killed between whole deletes"
    return Run(again.rc, time.monotonic() - t0, again.stdout, f"{note}\n{again.stderr}"), reasons


def _kill_ingest_mid_write(b: Battery) -> tuple[Run, list[str]]:
    """SIGKILL an ingest while it writes, then ask and list (readers must not be blocked by the dead writer)."""
    files = sorted((b.inp / "many").glob("*.jsonl"))[12:30]
    proc = b.runner.start(["ingest", *map(str, files), "--json"])
    t0 = time.monotonic()
    before = len(snapshot(b.store).records)
    while time.monotonic() - t0 < 400 and proc.poll() is None and len(snapshot(b.store).records) <= before:
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reasons = []
    ask = b.runner.run(["ask", "When did the Portvale ferry pier reopen?", "--json"], timeout=120)
    if ask.rc not in (0, 3):
        reasons.append(f"ask after the kill: exit {ask.rc}, {last_line(ask.stderr)!r}")
    again = b.runner.run(["ingest", *map(str, files), "--json"], timeout=600)
    if again.rc != 0:
        reasons.append(f"re-run: exit {again.rc or again.killed}, {last_line(again.stderr)!r}")
    snap = snapshot(b.store)
    missing = [f.stem for f in files if f"many-{int(f.stem[1:])}" not in snap.records]
    if missing:
        reasons.append(f"not stored after the re-run: {missing[:3]}")
    return Run(again.rc, time.monotonic() - t0, again.stdout, ask.stderr + again.stderr), reasons


def _daemon_killed_mid_question(b: Battery) -> tuple[Run, list[str]]:
    q = ["ask", "Who is the director of the Highcliff observatory?", "--json"]
    b.runner.run(q, timeout=300)  # make sure the daemon runs
    pid = b.daemon_pid()
    if pid is None:
        return Run(None, 0, "", ""), ["no answer daemon registered after an ask"]
    os.kill(pid, signal.SIGSTOP)  # so the question is certainly in flight when it dies
    proc = b.runner.start(q)
    t0 = time.monotonic()
    time.sleep(3)
    os.kill(pid, signal.SIGKILL)
    first = b.runner.wait(proc, 300 * b.scale, t0)
    second = b.runner.run(q, timeout=300)
    reasons = []
    for name, run in (("the question in flight", first), ("the next question", second)):
        if run.killed or run.rc not in (0, 3) or not _json_ok(run):
            reasons.append(f"{name}: exit {run.rc or run.killed}, {last_line(run.stderr)!r}")
        reasons += stderr_problems(run.stderr)
    return Run(f"{first.rc}/{second.rc}", first.secs, first.stdout, first.stderr + second.stderr), reasons


def _daemon_stopped(b: Battery) -> tuple[Run, list[str]]:
    q = ["ask", "When did the Portvale ferry pier reopen?", "--json"]
    b.runner.run(q, timeout=300)
    pid = b.daemon_pid()
    if pid is None:
        return Run(None, 0, "", ""), ["no answer daemon registered after an ask"]
    os.kill(pid, signal.SIGSTOP)
    try:
        run = b.runner.run(q, timeout=180 * b.scale)
        second = b.runner.run(q, timeout=180 * b.scale)
    finally:
        os.kill(pid, signal.SIGCONT)
    reasons = []
    for name, r in (("first ask", run), ("second ask", second)):
        if r.killed:
            reasons.append(f"{name} hung: {r.killed}")
        elif r.rc not in (0, 3, 2) or not _json_ok(r):
            reasons.append(f"{name}: exit {r.rc}, {last_line(r.stderr)!r}")
        elif r.secs > 90:
            reasons.append(f"{name} took {r.secs:.0f} s")
        reasons += stderr_problems(r.stderr)
    return Run(f"{run.rc}/{second.rc}", run.secs, run.stdout, run.stderr), reasons


def _store_removed(b: Battery) -> tuple[Run, list[str]]:
    store = b.copy_store("removed-store")
    env = {"ARTICLEQA_STORE_PATH": str(store)}
    q = ["ask", "When did the Portvale ferry pier reopen?", "--json"]
    warm = b.runner.run(q, env=env, timeout=300)
    pid = b.daemon_pid(store)
    shutil.rmtree(store)
    run = b.runner.run(q, env=env, timeout=180)
    reasons = []
    if warm.rc not in (0, 3):
        reasons.append(f"warm-up ask: exit {warm.rc}")
    if run.killed or run.rc not in (2, 3) or not _json_ok(run):
        reasons.append(f"ask on the removed store: exit {run.rc or run.killed}, {last_line(run.stderr)!r}")
    reasons += stderr_problems(run.stderr)
    time.sleep(2)
    if pid is not None:
        try:
            os.kill(pid, 0)
            reasons.append("the daemon of the removed store still runs")
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    b.stop_daemon(store)
    if store.exists():  # not a contract breach: the ask says no articles are stored; noted in the table
        run.stderr += f"\nnote: the ask re-created the removed store ({len(list(store.iterdir()))} entries)"
    shutil.rmtree(store, ignore_errors=True)
    return run, reasons


def _asks_during_ingest(b: Battery) -> tuple[Run, list[str]]:
    files = sorted((b.inp / "many").glob("*.jsonl"))[30:40]
    q = ["ask", "Who is the director of the Highcliff observatory?", "--json"]
    b.runner.run(q, timeout=300)
    proc = b.runner.start(["ingest", *map(str, files), "--json"])
    t0 = time.monotonic()
    asks: list[Run] = []
    while proc.poll() is None and time.monotonic() - t0 < 600:
        asks.append(b.runner.run(q, timeout=120))
    ing = b.runner.wait(proc, 600 * b.scale, t0)
    bad = [r for r in asks if r.killed or r.rc not in (0, 3)]
    reasons = [f"{len(bad)} of {len(asks)} asks failed, e.g. {last_line(bad[0].stderr)!r}"] if bad else []
    if ing.rc != 0:
        reasons.append(f"ingest: exit {ing.rc or ing.killed}")
    worst = max((r.secs for r in asks), default=0)
    return Run(ing.rc, ing.secs, ing.stdout, f"{len(asks)} asks, worst {worst:.1f} s\n" + ing.stderr), reasons


def _racing_daemons(b: Battery) -> tuple[Run, list[str]]:
    store = b.copy_store("race-store")
    env = {"ARTICLEQA_STORE_PATH": str(store)}
    q = ["ask", "When did the Portvale ferry pier reopen?", "--json"]
    procs = [b.runner.start(q, env=env) for _ in range(3)]
    t0 = time.monotonic()
    runs = [b.runner.wait(p, 300 * b.scale, t0) for p in procs]
    reasons = [f"ask {k}: exit {r.rc or r.killed}, {last_line(r.stderr)!r}" for k, r in enumerate(runs)
               if r.killed or r.rc not in (0, 3)]
    daemons = subprocess.run(["pgrep", "-f", "articleqa answer-daemon"], capture_output=True, text=True).stdout.split()
    mine = [p for p in daemons if str(store) in _environ_of(int(p)).get("ARTICLEQA_STORE_PATH", "")]
    if len(mine) > 1:
        reasons.append(f"{len(mine)} answer daemons for one store")
    b.stop_daemon(store)
    return Run("/".join(str(r.rc) for r in runs), max(r.secs for r in runs), runs[0].stdout, runs[0].stderr), reasons


def _stop_daemons_under(work: Path) -> None:
    """SIGTERM every answer daemon the cases started for a store under `work` (one per store folder they used)."""
    found = subprocess.run(["pgrep", "-f", "articleqa answer-daemon"], capture_output=True, text=True).stdout.split()
    for pid in map(int, found):
        if _environ_of(pid).get("ARTICLEQA_STORE_PATH", "").startswith(str(work)):
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


def _environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    return dict(x.decode(errors="replace").split("=", 1) for x in raw if b"=" in x)


def concurrency_cases(b: Battery) -> list[Case]:
    all_conc = {f"conc-{i}" for i in range(16)} | {f"many-{i}" for i in range(40)}
    return [
        Case("two-ingests", "concurrency", expect="custom", why="a second ingest while one writes",
             action=_two_ingests, may_change=all_conc, timeout=600),
        Case("delete-during-ingest", "concurrency", expect="custom", why="articles delete while an ingest writes",
             action=_delete_during_ingest, may_change=all_conc, timeout=600),
        Case("sigkill-delete", "concurrency", expect="custom", why="SIGKILL of `articles delete` of 12 articles "
             "part-way, then list and ingest", action=_kill_delete, may_change=all_conc),
        Case("sigkill-ingest-then-ask", "concurrency", expect="custom", why="SIGKILL of an ingest mid-write, then ask "
             "and re-run", action=_kill_ingest_mid_write, may_change=all_conc, timeout=900),
        Case("asks-during-ingest", "concurrency", expect="custom", why="questions back to back during a 10-article "
             "ingest", action=_asks_during_ingest, may_change=all_conc),
        Case("daemon-sigkill-mid-question", "concurrency", expect="custom", why="SIGKILL of the answer daemon with a "
             "question in flight; the next question", action=_daemon_killed_mid_question),
        Case("daemon-sigstop", "concurrency", expect="custom", why="the answer daemon stopped (SIGSTOP); two asks",
             action=_daemon_stopped),
        Case("store-removed-under-daemon", "concurrency", expect="custom", why="the store folder deleted while its "
             "daemon runs; then ask", action=_store_removed),
        Case("three-asks-start-daemon", "concurrency", expect="custom", why="three first asks at once on a store "
             "without a daemon", action=_racing_daemons),
    ]


# ---- disk full ---------------------------------------------------------------------------------------------------


def _disk_full(b: Battery, min_free: str, free_mb: int) -> tuple[Run, list[str]]:
    mnt = b.work / f"tmpfs-{min_free}"
    mnt.mkdir(exist_ok=True)
    used = sum(f.stat().st_size for f in b.store.rglob("*") if f.is_file()) >> 20
    size_mb = used + 96  # the store, room for the 40 articles once the filler goes, and 9 MiB until then
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mnt)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return Run(None, 0, "", f"skipped: cannot mount a tmpfs ({r.stderr.strip()})"), []
    try:
        store = mnt / "store"
        shutil.copytree(b.store, store, ignore=shutil.ignore_patterns(".articleqa.answer*", ".articleqa-cache"))
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        with open(mnt / "filler", "wb") as fh:  # about 23 KB a passage: 400 passages need about 9 MiB
            fh.write(b"\0" * max(0, free - (free_mb << 20)))
        before = snapshot(store)
        env = {"ARTICLEQA_STORE_PATH": str(store), "ARTICLEQA_MIN_FREE_MB": min_free}
        files = sorted((b.inp / "disk").glob("*.jsonl"))
        args = ["ingest", *map(str, files), "--json"]
        run = b.runner.run(args, env=env, timeout=600 * b.scale)
        reasons = [f"killed: {run.killed}"] if run.killed else []
        reasons += stderr_problems(run.stderr) + json_problems(args, run.stdout)
        if run.rc not in (0, 1):
            reasons.append(f"ingest exit {run.rc}")
        if run.rc == 1 and not re.search(r"full|space", run.stderr, re.I):
            reasons.append("no line says the disk is full")
        after = snapshot(store)
        reasons += [f"store: {p}" for p in after.problems() + kept(before, after, set())]
        ask = b.runner.run(["ask", "When did the Portvale ferry pier reopen?", "--json"], env=env, timeout=300)
        if ask.killed or ask.rc not in (0, 3):
            reasons.append(f"ask on the full disk: exit {ask.rc or ask.killed}, {last_line(ask.stderr)!r}")
        listed = b.runner.run(["articles", "list", "--json"], env=env, timeout=120)
        if listed.rc != 0 or not _json_ok(listed):
            reasons.append(f"list on the full disk: exit {listed.rc}, {last_line(listed.stderr)!r}")
        os.remove(mnt / "filler")  # space again: a re-run must complete the store
        again = b.runner.run(args, env=env, timeout=600 * b.scale)
        final = snapshot(store)
        if again.rc != 0:
            reasons.append(f"re-run with space: exit {again.rc or again.killed}, {last_line(again.stderr)!r}")
        reasons += [f"store after re-run: {p}" for p in final.problems()]
        missing = [i for i in range(40) if f"disk-{i}" not in final.records]
        if missing:
            reasons.append(f"{len(missing)} articles missing after the re-run with space")
        if run.rc == 0:
            reasons.append("the disk never filled: the case tested nothing (grow the corpus)")
        b.stop_daemon(store)
        return run, reasons
    finally:
        b.stop_daemon(mnt / "store")
        time.sleep(0.5)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def disk_cases(b: Battery) -> list[Case]:
    return [
        Case("disk-full-checked", "disk", expect="custom", why="a tmpfs with 9 MiB free; 40 articles (min_free_mb "
             "8); then space again and a re-run", action=lambda bb: _disk_full(bb, "8", 9), needs_root=True,
             store=b.work / "unused"),
        Case("disk-full-enospc", "disk", expect="custom", why="3 MiB free and the free-space check off: Chroma "
             "meets ENOSPC", action=lambda bb: _disk_full(bb, "0", 3), needs_root=True, store=b.work / "unused"),
    ]


# ---- Chroma server -----------------------------------------------------------------------------------------------


def _server_killed(b: Battery) -> tuple[Run, list[str]]:
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        return Run(None, 0, "", "skipped: no chroma executable"), []
    path = b.work / "server-store"
    shutil.rmtree(path, ignore_errors=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def start() -> subprocess.Popen:
        return subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def up() -> bool:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    server = start()
    reasons: list[str] = []
    try:
        if not up():
            return Run(None, 0, "", "skipped: the Chroma server did not start"), []
        env = {"ARTICLEQA_CHROMA_URL": f"http://127.0.0.1:{port}", "ARTICLEQA_CHROMA_RETRIES": "1"}
        files = sorted((b.inp / "many").glob("*.jsonl"))[:20]
        args = ["ingest", *map(str, files), "--json"]
        proc = b.runner.start(args, env=env)
        t0 = time.monotonic()
        # Killed once the first passages are stored, not after a fixed time: a fast machine finished all 20 first.
        while time.monotonic() - t0 < 120 * b.scale and proc.poll() is None and not _stored_passages(path):
            time.sleep(0.2)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        run = b.runner.wait(proc, 300 * b.scale, t0)
        reasons += [f"killed: {run.killed}"] if run.killed else []
        reasons += stderr_problems(run.stderr) + json_problems(args, run.stdout)
        if run.rc not in (1, 2):
            reasons.append(f"exit {run.rc} after the server died")
        server = start()
        if not up():
            reasons.append("the Chroma server did not restart")
            return run, reasons
        again = b.runner.run(args, env=env, timeout=600 * b.scale)
        if again.rc != 0:
            reasons.append(f"re-run: exit {again.rc or again.killed}, {last_line(again.stderr)!r}")
        listed = b.runner.run(["articles", "list", "--json"], env=env, timeout=120)
        try:
            ids = {r["id"] for r in json.loads(listed.stdout)}
        except ValueError:
            ids = set()
        missing = [f.stem for f in files if f"many-{int(f.stem[1:])}" not in ids]
        if missing:
            reasons.append(f"not stored after the re-run: {missing[:3]}")
        return run, reasons
    finally:
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except OSError:
            pass
        server.wait()


def _stored_passages(path: Path) -> int:
    """Rows in the embeddings table of a Chroma store folder (read-only; 0 while it cannot be read)."""
    try:
        with sqlite3.connect(f"file:{path / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:
        return 0


def server_cases(b: Battery) -> list[Case]:
    return [Case("chroma-server-killed", "server", expect="custom", why="Chroma server SIGKILLed mid-ingest, "
                 "restarted, re-run", action=_server_killed, store=b.work / "unused")]


# ---- the chat (a real server and, when installed, a real browser) ---------------------------------------------------


def _chat(b: Battery) -> tuple[Run, list[str]]:
    store = b.copy_store("chat-store")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(b.work / "chat.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "articleqa", "serve", "--port", str(port), "--store", str(store)],
                            cwd=b.runner.cwd, env=b.runner.env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    reasons: list[str] = []
    t0 = time.monotonic()
    try:
        import urllib.request

        url = f"http://127.0.0.1:{port}/"
        for _ in range(1800):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    return Run(proc.returncode, 0, "", "the chat did not start"), ["the chat did not start"]
                time.sleep(0.1)
        from gradio_client import Client

        client = Client(url, verbose=False)
        t = time.monotonic()
        result: dict[str, Any] = {}

        def call() -> None:
            try:
                result["report"] = client.predict([], f"{b.server.base}/drip-headers\n{b.server.base}/page/700",
                                                  api_name="/ingest")
            except Exception as exc:
                result["error"] = f"{type(exc).__name__}: {exc}"

        th = threading.Thread(target=call, daemon=True)
        th.start()
        th.join(150 * b.scale)
        took = time.monotonic() - t
        if th.is_alive():
            reasons.append(f"the chat's ingest of a header-dripping URL still ran after {took:.0f} s")
        elif "error" in result:
            reasons.append(f"api_ingest raised {result['error'][:100]}")
        else:
            items = result["report"].get("items", [])
            if not any(it.get("status") == "added" for it in items):
                reasons.append("the good URL after the dripping one was not stored")
        reasons += _browser(url, b)
        return Run(0, took, json.dumps(result)[:2000], ""), reasons
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        _ = t0


def _browser(url: str, b: Battery) -> list[str]:
    chromium = shutil.which("chromium")
    if not chromium:
        return []
    from playwright.sync_api import sync_playwright

    reasons: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url)
            page.locator("#aqa-question textarea").wait_for(timeout=60_000)
            for q in ("<img src=x onerror=alert(7)> pier?", "\u202e?reopen pier the did When", "🚢" * 2000):
                page.locator("#aqa-question textarea").fill(q)
                page.locator("#aqa-send").click()
                page.wait_for_timeout(4000)
            page.locator("#aqa-question textarea").fill("When did the Portvale ferry pier reopen?")
            page.locator("#aqa-send").click()
            page.locator("#aqa-sources .aqa-card").first.wait_for(timeout=120_000)
            if dialogs:
                reasons.append(f"a dialog opened in the browser: {dialogs[:2]}")
        except Exception as exc:
            reasons.append(f"browser: {type(exc).__name__}: {str(exc)[:120]}")
        finally:
            browser.close()
    return reasons


def chat_cases(b: Battery) -> list[Case]:
    return [Case("chat-drip-and-browser", "chat", expect="custom", why="the chat's ingest API given a header-dripping "
                 "URL then a good one; hostile questions in Chromium", action=_chat, store=b.work / "unused")]


# ----------------------------------------------------------------------------------------------------------------

GROUPS: dict[str, Callable[[Battery], list[Case]]] = {
    "files": file_cases, "json": json_cases, "pdf": pdf_cases, "html": html_cases, "http": http_cases,
    "feed": feed_cases, "ask": ask_cases, "cli": cli_cases, "env": env_cases, "concurrency": concurrency_cases,
    "disk": disk_cases, "server": server_cases, "chat": chat_cases,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (emptied first)")
    ap.add_argument("--code", type=Path, default=REPO, help="checkout under test (default: this one)")
    ap.add_argument("--groups", nargs="*", default=list(GROUPS), help="groups to run")
    ap.add_argument("--only", nargs="*", help="case names to run")
    ap.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every time limit (a loaded machine)")
    a = ap.parse_args()
    work = a.work.resolve()
    for leftover in work.glob("tmpfs-*"):
        subprocess.run(["umount", "-l", str(leftover)], capture_output=True)
    if work.exists():
        subprocess.run(["chmod", "-R", "u+rwX", str(work)], capture_output=True)
        subprocess.run(["rm", "-rf", str(work)], check=False)
    work.mkdir(parents=True)
    os.chmod(work, 0o755)
    b = Battery(a.code.resolve(), work, a.timeout_scale)
    b.seed()
    write_inputs(b)
    if "http" in a.groups:
        b.server.bomb("single"), b.server.bomb("double"), b.server.bomb("deflate")
    print(f"code under test: {b.code}\n")
    print("| group | case | exit | s | first error line (else last stderr line) | store | verdict |")
    print("|---|---|---|---|---|---|---|")
    t0 = time.monotonic()
    try:
        for group in a.groups:
            for case in GROUPS[group](b):
                if a.only and case.name not in a.only:
                    continue
                b.run_case(case)
    finally:
        b.stop_daemon()
        _stop_daemons_under(work)
        b.server.close()
        (work / "results.json").write_text(json.dumps([r.__dict__ for r in b.results], indent=1, default=str))
    passed = sum(r.verdict == "PASS" for r in b.results)
    failed = [r.name for r in b.results if r.verdict == "FAIL"]
    print(f"\n{passed} PASS, {len(failed)} FAIL, {sum(r.verdict == 'SKIP' for r in b.results)} SKIP in "
          f"{time.monotonic() - t0:.0f} s; failed: {', '.join(failed) or 'none'}")


if __name__ == "__main__":
    main()
