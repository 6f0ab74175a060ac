"""Load test of the chat server: N simulated users ask questions through /ask while an ingest runs through /ingest.

Starts `python app.py` on a free 127.0.0.1 port (unless --url names a running app), makes sure the corpus is
ingested (through /ingest; skipped when the store already holds it, so reuse --store between runs), then runs
--users threads, each with its own gradio_client, asking --questions questions each. Meanwhile one more client
uploads a held-out batch of corpus articles (--extra, chosen among articles no question is about) to /ingest;
they are deleted again afterwards (/delete_articles) so every run ingests the same amount of new text.

Reports throughput, client latency p50/p95/p99, errors, where the server spent the time (the per-stage `timings`
of each /ask answer, plus queueing/transport = client latency - server total), and the latency of asks that
overlapped the ingest versus those that did not. Only 127.0.0.1 is ever contacted.

Example (first run ingests the corpus, about 4 min on 2 cores; later runs reuse the store):

    python bench/load_test.py --store /tmp/aqa-load --users 16 --questions 16 --json bench/out/load.json
    python bench/load_test.py --store /tmp/aqa-load-server --server          # Chroma server mode
    python bench/load_test.py --url http://127.0.0.1:7860/ --no-ingest-during  # an app you started
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "realtimeqa-dev"
STAGES = ["rewrite", "embed_query", "dense", "keyword", "rerank", "extract", "check", "total"]
LOCAL = {"127.0.0.1", "localhost", "::1"}


# ---- helpers -----------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quiet_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}


def wait_http(url: str, proc: subprocess.Popen | None, timeout: float, ok=(200,)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status in ok:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not come up in {timeout:.0f} s")


def stop(proc: subprocess.Popen | None) -> None:
    """Stop a process this script started (by its own pid)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc (None when unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def pct(values: list[float], q: float) -> float:
    """Percentile q (0-100) by linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    v = sorted(values)
    pos = (len(v) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def check_local(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOCAL:
        sys.exit(f"error: {url}: the load test only talks to 127.0.0.1/localhost")


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def client(url: str):
    """A gradio_client for one simulated user.

    gradio_client makes a fresh httpx request for every call, and httpx builds a TLS context (loading the whole CA
    bundle, ~10 ms of CPU) for each one even for http:// URLs. The load generator shares the app's 2 cores, so that
    waste would be charged to the app's latency; every client gets one prebuilt context instead.
    """
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, ssl_verify=_tls_context())


# ---- data --------------------------------------------------------------------------------------------------------
def split_corpus(corpus: list[dict], questions: list[dict], limit: int | None, extra: int) -> tuple[list, list]:
    """(base articles, held-out articles for the ingest during the load): held-out ones are no question's gold."""
    gold = {g for q in questions for g in q.get("gold_doc_ids") or []}
    held: list[dict] = []
    for doc in reversed(corpus):
        if len(held) >= extra:
            break
        if doc.get("doc_id") not in gold:
            held.append(doc)
    held_ids = {d.get("doc_id") for d in held}
    base = [d for d in corpus if d.get("doc_id") not in held_ids]
    if limit is not None:
        base = base[:limit]
    return base, held[::-1]


def write_jsonl(docs: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


# ---- the run -----------------------------------------------------------------------------------------------------
@dataclass
class Call:
    user: int
    question: str
    start: float  # seconds since the load phase started
    end: float
    ok: bool
    error: str = ""
    refused: bool | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def latency(self) -> float:
        return self.end - self.start


def ask_loop(url: str, user: int, questions: list[str], clock: dict, calls: list[Call],
             barrier: threading.Barrier, lock: threading.Lock) -> None:
    try:
        c = client(url)
    except Exception as exc:  # a user that cannot even connect counts as one error
        with lock:
            calls.append(Call(user, "", 0.0, 0.0, False, f"connect: {exc!r}"[:300]))
        barrier.abort()
        return
    try:
        barrier.wait(timeout=180)
    except threading.BrokenBarrierError:
        time.sleep(0.5)  # the main thread starts the clock itself
    t0, deadline = clock["t0"], clock["deadline"]
    for q in questions:
        if time.monotonic() >= deadline:
            break
        s = time.monotonic()
        try:
            r = c.predict(question=q, api_name="/ask")
            call = Call(user, q, s - t0, time.monotonic() - t0, True, refused=bool(r.get("refused")),
                        timings={k: float(v) for k, v in (r.get("timings") or {}).items()})
        except Exception as exc:
            call = Call(user, q, s - t0, time.monotonic() - t0, False, f"{type(exc).__name__}: {exc}"[:300])
        with lock:
            calls.append(call)


def ingest_during(url: str, path: Path, t0: float, start_after: float, out: dict) -> None:
    from gradio_client import handle_file

    time.sleep(start_after)
    c = client(url)
    out["start"] = time.monotonic() - t0
    try:
        report = c.predict(files=[handle_file(str(path))], urls="", api_name="/ingest")
        out["counts"] = report.get("counts")
        out["ok"] = report.get("ok")
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    out["end"] = time.monotonic() - t0


def summarise(calls: list[Call], wall: float, ingest: dict, users: int) -> dict:
    good = [c for c in calls if c.ok]
    lat = [c.latency for c in good]
    out: dict = {
        "users": users,
        "questions": len(calls),
        "answers": len(good),
        "errors": len(calls) - len(good),
        "refused": sum(1 for c in good if c.refused),
        "wall_seconds": round(wall, 3),
        "throughput_per_s": round(len(good) / wall, 3) if wall else 0.0,
        "latency": {k: round(pct(lat, q), 4) for k, q in (("p50", 50), ("p95", 95), ("p99", 99))},
        "latency_max": round(max(lat), 4) if lat else None,
        "error_samples": sorted({c.error for c in calls if not c.ok})[:5],
    }
    stages = {}
    for s in STAGES:
        vals = [c.timings[s] for c in good if s in c.timings]
        if vals:
            stages[s] = {"mean": statistics.fmean(vals), "p50": pct(vals, 50), "p95": pct(vals, 95)}
    queue = [c.latency - c.timings["total"] for c in good if "total" in c.timings]
    if queue:
        stages["queue_transport"] = {"mean": statistics.fmean(queue), "p50": pct(queue, 50), "p95": pct(queue, 95)}
    out["stages"] = {k: {m: round(v, 4) for m, v in d.items()} for k, d in stages.items()}
    if "start" in ingest and "end" in ingest:
        a, b = ingest["start"], ingest["end"]
        over = [c.latency for c in good if c.start < b and c.end > a]
        rest = [c.latency for c in good if not (c.start < b and c.end > a)]
        out["ingest"] = {**ingest, "seconds": round(b - a, 3)}
        out["during_ingest"] = {"n": len(over), "p50": round(pct(over, 50), 4), "p95": round(pct(over, 95), 4),
                                "max": round(max(over), 4) if over else None}
        out["outside_ingest"] = {"n": len(rest), "p50": round(pct(rest, 50), 4), "p95": round(pct(rest, 95), 4),
                                 "max": round(max(rest), 4) if rest else None}
    elif ingest:
        out["ingest"] = ingest
    return out


def show(summary: dict, meta: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ms = lambda v: "-" if v is None or v != v else f"{v * 1000:.0f} ms"  # noqa: E731
    t = Table(title=f"articleqa load test ({meta['mode']} store, {meta['passages']} passages)")
    for col in ("users", "questions", "errors", "answers/s", "p50", "p95", "p99", "max"):
        t.add_column(col, justify="right", no_wrap=True)
    lat = summary["latency"]
    t.add_row(str(summary["users"]), str(summary["questions"]), str(summary["errors"]),
              f"{summary['throughput_per_s']:.2f}", ms(lat["p50"]), ms(lat["p95"]), ms(lat["p99"]),
              ms(summary["latency_max"]))
    console.print(t)
    st = Table(title="Where the time goes (per /ask; server stages from `timings`)")
    for col in ("stage", "mean", "p50", "p95"):
        st.add_column(col, justify="right" if col != "stage" else "left")
    for name, d in summary["stages"].items():
        st.add_row(name, ms(d["mean"]), ms(d["p50"]), ms(d["p95"]))
    console.print(st)
    if "during_ingest" in summary:
        it = Table(title=f"Asks overlapping the ingest ({summary['ingest'].get('seconds', 0):.1f} s, "
                         f"{summary['ingest'].get('counts')}) vs not")
        for col in ("asks", "n", "p50", "p95", "max"):
            it.add_column(col, justify="right" if col != "asks" else "left")
        for label, key in (("during ingest", "during_ingest"), ("outside ingest", "outside_ingest")):
            d = summary[key]
            it.add_row(label, str(d["n"]), ms(d["p50"]), ms(d["p95"]), ms(d["max"]))
        console.print(it)
    if summary.get("error_samples"):
        console.print("[red]errors:[/red]", *summary["error_samples"], sep="\n  ")
    if summary.get("ingest", {}).get("error"):
        console.print("[red]ingest error:[/red]", summary["ingest"]["error"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="A running app (127.0.0.1 only); default: start `python app.py` here.")
    ap.add_argument("--store", type=Path, help="Store folder for the started app (reused between runs; "
                    "default: a temporary folder, deleted at the end).")
    ap.add_argument("--chroma-url", help="Pass --chroma-url to the started app (a Chroma server on 127.0.0.1).")
    ap.add_argument("--server", action="store_true",
                    help="Start `chroma run --path STORE/chroma-server` on a free port and use it (server mode).")
    ap.add_argument("--corpus", type=Path, default=DATA / "corpus.jsonl", help="JSONL articles to ingest first.")
    ap.add_argument("--questions-file", type=Path, default=DATA / "questions.jsonl")
    ap.add_argument("--ingest-limit", type=int, help="Ingest only the first N corpus articles.")
    ap.add_argument("--users", type=int, default=16, help="Simulated users (threads, one client each).")
    ap.add_argument("--questions", type=int, default=16, help="Questions per user.")
    ap.add_argument("--extra", type=int, default=12, help="Held-out articles ingested during the load (0: none).")
    ap.add_argument("--ingest-delay", type=float, default=3.0, help="Seconds into the load before that ingest.")
    ap.add_argument("--no-ingest-during", action="store_true", help="No ingest during the load.")
    ap.add_argument("--keep-extra", action="store_true", help="Do not delete the held-out articles afterwards.")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="Stop asking after this long.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="Write the summary (and every call) here.")
    ap.add_argument("--env", action="append", default=[], metavar="K=V",
                    help="Extra environment for the started app (e.g. ARTICLEQA_CONCURRENCY=2).")
    args = ap.parse_args()
    if args.url:
        check_local(args.url)
    if args.chroma_url:
        check_local(args.chroma_url)

    corpus = load_jsonl(args.corpus)
    qdata = load_jsonl(args.questions_file)
    extra = 0 if args.no_ingest_during else args.extra
    base, held = split_corpus(corpus, qdata, args.ingest_limit, extra)
    held_ids = [d["doc_id"] for d in held if d.get("doc_id")]

    work = Path(tempfile.mkdtemp(prefix="aqa-load-"))
    store = args.store or (work / "store")
    procs: list[subprocess.Popen] = []
    logs = []
    mode = "server" if (args.server or args.chroma_url) else "embedded"
    try:
        url = args.url
        chroma_url = args.chroma_url
        if not url:
            store.mkdir(parents=True, exist_ok=True)
            if args.server:
                cport = free_port()
                clog = open(store / "chroma-server.log", "w")  # noqa: SIM115
                logs.append(clog)
                chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
                procs.append(subprocess.Popen(
                    [chroma, "run", "--path", str(store / "chroma-server"), "--host", "127.0.0.1",
                     "--port", str(cport)],
                    env=quiet_env(), stdout=clog, stderr=subprocess.STDOUT))
                chroma_url = f"http://127.0.0.1:{cport}"
                wait_http(f"{chroma_url}/api/v2/heartbeat", procs[-1], 60)
                print(f"chroma server pid {procs[-1].pid} on {chroma_url}")
            port = free_port()
            env = quiet_env()
            env.update(dict(kv.split("=", 1) for kv in args.env))
            cmd = [sys.executable, str(REPO / "app.py"), "--port", str(port), "--store", str(store)]
            if chroma_url:
                cmd += ["--chroma-url", chroma_url]
            alog = open(store / f"app-{port}.log", "w")  # noqa: SIM115
            logs.append(alog)
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=alog, stderr=subprocess.STDOUT))
            url = f"http://127.0.0.1:{port}/"
            t = time.monotonic()
            wait_http(url, procs[-1], 120)
            print(f"app pid {procs[-1].pid} up on {url} in {time.monotonic() - t:.1f} s (log {alog.name})")

        admin = client(url)
        # Leftovers of an interrupted run would make the held-out batch "unchanged": remove them first.
        if held_ids:
            admin.predict(ids=held_ids, api_name="/delete_articles")
        # ids of stored articles and of the duplicates folded into them (a duplicate is never stored itself)
        stored = {x for a in admin.predict(api_name="/list_articles") for x in [a["id"], *(a.get("aliases") or [])]}
        missing = [d for d in base if d.get("doc_id") not in stored]
        if missing:
            path = write_jsonl(missing, work / "loadtest-base.jsonl")
            print(f"ingesting {len(missing)} of {len(base)} base articles (once per store)…", flush=True)
            t = time.monotonic()
            rep = admin.predict(files=[__import__("gradio_client").handle_file(str(path))], urls="",
                                api_name="/ingest")
            print(f"  {rep.get('counts')} in {time.monotonic() - t:.0f} s")
        else:
            print(f"store already holds the {len(base)} base articles")
        articles = admin.predict(api_name="/list_articles")
        passages = sum(int(a.get("passages") or 0) for a in articles)

        # warm-up: the app loads models in the background; wait until an answer comes back
        t = time.monotonic()
        for q in ("Who accompanied Kim?", qdata[0]["question"]):
            admin.predict(question=q, api_name="/ask")
        print(f"warm-up asks took {time.monotonic() - t:.1f} s; {len(articles)} articles, {passages} passages")

        rng = random.Random(args.seed)
        pool = [q["question"] for q in qdata]
        per_user = [[pool[rng.randrange(len(pool))] for _ in range(args.questions)] for _ in range(args.users)]
        extra_path = write_jsonl(held, work / "loadtest-extra.jsonl") if held else None

        load_before = os.getloadavg()
        app_pid = procs[-1].pid if procs else None
        app_cpu0 = cpu_seconds(app_pid) if app_pid else None
        chroma_pid = procs[0].pid if args.server and len(procs) > 1 else None
        chroma_cpu0 = cpu_seconds(chroma_pid) if chroma_pid else None
        own_cpu0 = sum(os.times()[:2])
        calls: list[Call] = []
        lock = threading.Lock()
        clock: dict[str, float] = {}

        def start_clock() -> None:  # runs once, when every user has connected its client
            clock["t0"] = time.monotonic()
            clock["deadline"] = clock["t0"] + args.max_seconds

        barrier = threading.Barrier(args.users + 1, action=start_clock)
        ingest: dict = {}
        threads = []
        for u in range(args.users):
            th = threading.Thread(target=ask_loop, args=(url, u, per_user[u], clock, calls, barrier, lock),
                                  daemon=True)
            th.start()
            threads.append(th)
        try:
            barrier.wait(timeout=180)
        except threading.BrokenBarrierError:
            start_clock()
        start_mark = clock.setdefault("t0", time.monotonic())
        ing_thread = None
        if extra_path:
            ing_thread = threading.Thread(target=ingest_during, args=(url, extra_path, start_mark, args.ingest_delay,
                                                                      ingest), daemon=True)
            ing_thread.start()
        for th in threads:
            th.join(timeout=args.max_seconds + 180)
        wall = time.monotonic() - start_mark
        if ing_thread:
            ing_thread.join(timeout=args.max_seconds + 180)
        load_after = os.getloadavg()
        app_cpu1 = cpu_seconds(app_pid) if app_pid else None
        chroma_cpu1 = cpu_seconds(chroma_pid) if chroma_pid else None
        own_cpu = sum(os.times()[:2]) - own_cpu0

        summary = summarise(calls, wall, ingest, args.users)
        meta = {
            "mode": mode, "url": url, "store": str(store), "chroma_url": chroma_url, "articles": len(articles),
            "passages": passages, "questions_per_user": args.questions, "extra_articles": len(held),
            "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
            "cpus": os.cpu_count(), "env": args.env,
            "app_cpu_percent": round(100 * (app_cpu1 - app_cpu0) / wall, 1) if app_cpu0 and app_cpu1 else None,
            "chroma_server_cpu_percent": round(100 * (chroma_cpu1 - chroma_cpu0) / wall, 1)
            if chroma_cpu0 is not None and chroma_cpu1 is not None else None,
            "client_cpu_percent": round(100 * own_cpu / wall, 1), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        show(summary, meta)
        print(f"load average before {meta['loadavg_before']} after {meta['loadavg_after']} ({os.cpu_count()} cpus); "
              f"CPU during the load: app {meta['app_cpu_percent']}%, this load generator {meta['client_cpu_percent']}%"
              + (f", Chroma server {meta['chroma_server_cpu_percent']}%" if chroma_pid else ""))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"meta": meta, "summary": summary,
                                             "calls": [asdict(c) | {"latency": c.latency} for c in calls]}, indent=1))
            print(f"wrote {args.json}")
        if held_ids and not args.keep_extra:
            admin.predict(ids=held_ids, api_name="/delete_articles")
    finally:
        for p in reversed(procs):
            stop(p)
        for f in logs:
            f.close()
        if args.store is None:
            shutil.rmtree(work / "store", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
