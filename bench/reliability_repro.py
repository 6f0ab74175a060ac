"""Run issue 15's hostile reproductions against one checkout and print exit code, seconds and the last message line.

Usage (the checkout is the current directory; each reproduction is a real `python -m articleqa` process):

    cd /work/main && python /work/wt-reliability/bench/reliability_repro.py --work bench/out/repro-before
    cd /work/wt-reliability && PYTHONPATH=$PWD python bench/reliability_repro.py --work bench/out/repro-after

A local HTTP server on 127.0.0.1 serves the slow-drip, oversized and credentialed pages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGE = (
    "<html><head><title>Bridge vote</title></head><body><article><h1>Bridge vote</h1>"
    + "".join(
        f"<p>The council of Exampleton voted on Monday to build footbridge number {i} over the river, "
        "ending a long debate about how to connect the town.</p>"
        for i in range(4)
    )
    + "</article></body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.startswith("/drip"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(600):  # a byte every 2 s: each read is quick, the whole never ends
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(2)
            except OSError:
                return
        elif self.path.startswith("/huge"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"word " * 20000)
            except OSError:
                return
        else:
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


def _inputs(work: Path) -> None:
    good = "The mayor spoke on Monday about the new bridge over the river. " * 3
    (work / "other.txt").write_text("Bridge plan\n" + "The council met on Friday and approved the harbour plan. " * 4)
    (work / "bigint.jsonl").write_text(
        json.dumps({"id": "g1", "text": good}) + "\n"
        + '{"id":"x","text":"The mayor spoke on Monday about the new bridge.","n":' + "9" * 5000 + "}\n"
    )
    (work / "surrogate.jsonl").write_text(
        '{"id": "s1", "text": "The mayor \\ud800 spoke on Monday about the new bridge over the river today."}\n'
        + json.dumps({"id": "s2", "text": good}) + "\n"
    )
    (work / "nul.jsonl").write_bytes(b"\x00\x00\x00\x00\n" + json.dumps({"id": "n1", "text": good}).encode() + b"\n")
    (work / "s.txt").write_text("".join(f"X{i % 10} ran. " for i in range(100000)))
    (work / "attrs.html").write_text(
        "<html><body><div " + " ".join(f'a{i}="v"' for i in range(100000)) + "><p>"
        + good + "</p></div></body></html>"
    )
    (work / "noend.txt").write_text("word " * 1_000_000)
    (work / "deep.html").write_text(
        "<html><body>" + "<div>" * 10000 + "<p>" + good + "</p>" + "</div>" * 10000 + "</body></html>"
    )
    (work / "ctrl.jsonl").write_text(json.dumps({"id": "c1", "title": "A\u001b[2JB\u0000C", "text": good}) + "\n")
    (work / "council.jsonl").write_text(json.dumps({
        "id": "council", "title": "Council schedule", "publish_date": "2025-08-29",
        "text": "The Exampleton town council meets every Tuesday in the old library, the clerk said on Thursday. "
                "Members discuss the bridge budget at each meeting, and the next vote is on the harbour plan."}) + "\n")


def _run(args: list[str], env: dict[str, str], timeout: float, user: str | None = None) -> dict[str, object]:
    cmd = [sys.executable, "-m", "articleqa", *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]  # user: a numeric id
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
        rc: object = p.returncode
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as exc:
        rc = f"killed at {timeout:g}s"
        out = (exc.stdout or b"").decode(errors="replace")
        err = (exc.stderr or b"").decode(errors="replace")
    secs = time.perf_counter() - t
    lines = [ln for ln in err.splitlines() if ln.strip() and "Warning" not in ln and "warn(" not in ln]
    errors = [ln for ln in lines if ln.startswith("error")]
    shown = " / ".join([*errors[:2], lines[-1]] if errors and errors[-1] != lines[-1] else errors[:2] or lines[-1:])
    return {"rc": rc, "s": round(secs, 1), "stdout": out, "last": shown[:300]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (inputs and stores)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a reproduction is killed")
    ap.add_argument("--only", nargs="*", help="names of reproductions to run")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    a.work.mkdir(parents=True)
    os.chmod(a.work, 0o755)
    _inputs(a.work)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ARTICLEQA_STORE_PATH": str(a.work / "store"),
           "ARTICLEQA_REFERENCE_DATE": "2025-09-05"}
    w = a.work
    cases: list[tuple[str, list[str], dict[str, str]]] = [
        ("seed", ["ingest", str(w / "council.jsonl")], {}),
        ("bigint", ["ingest", str(w / "bigint.jsonl"), str(w / "other.txt")], {}),
        ("surrogate", ["ingest", str(w / "surrogate.jsonl")], {}),
        ("bad-refdate", ["ask", "What happened last week?", "--reference-date", "yesterday"], {}),
        ("bad-utf8-question", ["ask", "mayor \udcff?"], {}),
        ("nul-line", ["ingest", str(w / "nul.jsonl")], {}),
        ("quadratic-800KB", ["ingest", str(w / "s.txt")], {}),
        ("100k-attributes", ["ingest", str(w / "attrs.html")], {}),
        ("slow-drip-url", ["ingest", f"{base}/drip"], {}),
        ("endless-url", ["ingest", f"{base}/huge"], {}),
        ("no-sentence-end-5MB", ["ingest", str(w / "noend.txt")], {}),
        ("empty-arg", ["ingest", ""], {}),
        ("deep-10000", ["ingest", str(w / "deep.html")], {}),
        ("credentials-url", ["ingest", f"http://user:secret@127.0.0.1:{server.server_port}/page.html"], {}),
        ("control-title", ["ingest", str(w / "ctrl.jsonl")], {}),
        ("list", ["articles", "list"], {}),
        ("list-json", ["articles", "list", "--json"], {}),
        ("markup-question", ["ask", "<script>alert(1)</script>"], {}),
        ("every-tuesday", ["ask", "When does the Exampleton town council meet?"], {}),
    ]
    results = {}
    for name, args, extra in cases:
        if a.only and name not in a.only and name != "seed":
            continue
        r = _run(args, {**env, **extra}, a.timeout)
        if name == "no-sentence-end-5MB":
            r["last"] = f"{r['last']} | longest passage {_longest(w / 'store', env)} chars"
        if name in ("credentials-url", "list-json"):
            listed = _run(["articles", "list", "--json"], env, 60)["stdout"]
            r["last"] = f"{r['last']} | 'secret' stored: {'secret' in listed}"
        if name == "list":
            r["last"] = f"{r['last']} | raw ESC on stdout: {chr(27) in r['stdout']}"
        if name == "list-json":
            titles = [a["title"] for a in json.loads(r["stdout"] or "[]")]
            r["last"] = f"{r['last']} | control chars in stored titles: {any(c < ' ' for t in titles for c in t)}"
        if name == "every-tuesday":
            first = r["stdout"].strip().splitlines()[0] if r["stdout"].strip() else r["last"]
            r["last"] = first[first.find("every") :][:120] if "every" in first else first[:120]
        results[name] = r
        print(f"| {name} | {r['rc']} | {r['s']} | {str(r['last']).replace('|', '/')} |", flush=True)
    if not a.only or "readonly" in a.only:
        ro = w / "ro-store"
        shutil.copytree(w / "store", ro)
        subprocess.run(["chmod", "-R", "a-w,a+rX", str(ro)], check=True)
        renv = {**env, "ARTICLEQA_STORE_PATH": str(ro), "HOME": "/tmp"}
        for name, args in (("readonly-list", ["articles", "list"]),
                           ("readonly-ask", ["ask", "When does the Exampleton town council meet?"])):
            r = _run(args, renv, a.timeout, user="65534")  # nobody
            print(f"| {name} | {r['rc']} | {r['s']} | {str(r['last']).replace('|', '/')} |", flush=True)
    server.shutdown()
    _stop_daemon(w / "store")


def _stop_daemon(store: Path) -> None:
    """The asks above started the store's answer daemon (as any user's first `articleqa ask` does): stop it."""
    try:
        os.kill(int(json.loads((store / ".articleqa.answer.json").read_text())["pid"]), 15)
    except (OSError, ValueError, KeyError):
        pass


def _longest(store: Path, env: dict[str, str]) -> str:
    code = ("import chromadb,sys;c=chromadb.PersistentClient(path=sys.argv[1]);"
            "names=[x.name for x in c.list_collections()];"
            "print(max((len(d) for n in names if not n.endswith(('__articles','__meta')) "
            "for d in c.get_collection(n).get(include=['documents'])['documents']), default=0))")
    p = subprocess.run([sys.executable, "-c", code, str(store)], env=env, capture_output=True, text=True, timeout=120)
    return p.stdout.strip() or p.stderr.strip().splitlines()[-1][:80]


if __name__ == "__main__":
    main()
