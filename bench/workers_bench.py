"""Ingest throughput: in-process embedding vs `articleqa embed-server`, and --workers 1 vs 2 against that server.

Starts its own `chroma run` and `articleqa embed-server` on free 127.0.0.1 ports (temporary folder), then runs
`articleqa ingest --json` as a fresh process per configuration and repetition, each into an empty collection of
the same Chroma server, so the figures differ only in how the passages are embedded and by how many workers.
Passages/s are passages embedded over the ingest's own run time (model loading excluded for the in-process path;
worker start included for --workers); the wall column is the whole command. Medians over --repeats.

Example (about 4 minutes on 2 idle cores with the defaults):
    python bench/workers_bench.py ../shared/data/realtimeqa-dev/corpus.jsonl --articles 150 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer {url} within {timeout:.0f} s")


def _ingest(corpus: Path, chroma: str, collection: str, env: dict[str, str], workers: int) -> dict[str, float]:
    t = time.perf_counter()
    got = subprocess.run([sys.executable, "-m", "articleqa", "ingest", str(corpus), "--chroma-url", chroma,
                          "--collection", collection, "--workers", str(workers), "--json"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t
    if got.returncode != 0:
        raise SystemExit(f"ingest failed ({got.returncode}): {got.stderr[-2000:]}")
    report = json.loads(got.stdout)
    return {"passages": report["passages_embedded"], "seconds": report["seconds"],
            "rate": report["passages_embedded"] / report["seconds"], "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="A JSONL corpus (e.g. ../shared/data/realtimeqa-dev/corpus.jsonl).")
    ap.add_argument("--articles", type=int, default=150, help="First N records of the corpus.")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, help="Also write the figures here.")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="articleqa-workers-"))
    corpus = tmp / "corpus.jsonl"
    with args.corpus.open() as src, corpus.open("w") as dst:
        for i, line in enumerate(src):
            if i >= args.articles:
                break
            dst.write(line)
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1",
           "ARTICLEQA_CACHE_DIR": str(tmp / "cache")}
    env.pop("ARTICLEQA_EMBEDDING_URL", None)
    cport, eport = _port(), _port()
    chroma_url, embed_url = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{eport}/v1"
    procs = [
        subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(tmp / "chroma"),
                          "--host", "127.0.0.1", "--port", str(cport)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env),
        subprocess.Popen([sys.executable, "-m", "articleqa", "embed-server", "--port", str(eport)], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env),
    ]
    try:
        _wait(f"{chroma_url}/api/v2/heartbeat", procs[0], "chroma run")
        _wait(f"http://127.0.0.1:{eport}/health", procs[1], "articleqa embed-server")
        served = {"ARTICLEQA_EMBEDDING_URL": embed_url}
        configs = [("in-process, 1 process", {}, 1), ("embed-server, --workers 1", served, 1),
                   ("embed-server, --workers 2", served, 2)]
        runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in configs}
        for r in range(args.repeats):
            for k, (name, extra, workers) in enumerate(configs):  # interleaved: drifting load hits every config
                runs[name].append(_ingest(corpus, chroma_url, f"bench-{k}-{r}", {**env, **extra}, workers))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
    med = {name: {key: statistics.median(x[key] for x in rs) for key in rs[0]} for name, rs in runs.items()}
    base = med["embed-server, --workers 1"]["rate"]
    print(f"{args.articles} articles, {int(med['in-process, 1 process']['passages'])} passages, "
          f"median of {args.repeats}, {os.cpu_count()} cores")
    print(f"{'configuration':28} {'passages/s':>10} {'ingest s':>9} {'wall s':>7} {'vs server x1':>12}")
    for name, m in med.items():
        print(f"{name:28} {m['rate']:10.1f} {m['seconds']:9.1f} {m['wall']:7.1f} {m['rate'] / base:12.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"articles": args.articles, "median": med, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
