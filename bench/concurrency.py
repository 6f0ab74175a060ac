"""Questions while articles arrive on the default embedded store: an ingest and question loops as real processes.

    python bench/concurrency.py --work bench/out/concurrency --articles 80 --loops 4

1. a clean store gets `--seed` articles; the first `articleqa ask` starts the answer daemon (timed apart); each
   question is then asked `--idle-runs` times alone, as the loops ask it (its idle time);
2. `articleqa ingest` of `--articles` more runs while `--loops` loops each ask `articleqa ask` one after another;
3. the store is compared with a clean run of the same articles (records, hashes, passage ids).

Every question is a real `articleqa ask --json` process, idle or loaded alike: through the answer daemon by
default, in its own process with `--local` (the design before the daemon). `--ingest-nice N` sets the ingest's
ARTICLEQA_INGEST_NICE (default: the setting's own, 10).

Prints the share of questions answered (exit 0 or 3: an answer or a content refusal; 2 = refused by the store or an
error), the slowest question against twice its idle time plus 1 s, whether one daemon answered them all, and
whether the store equals the clean run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# The checkout whose `articleqa` runs the scenario (--repo: e.g. an older one, for a before/after comparison).
TARGET = REPO

from tests.conftest import make_article  # noqa: E402  (one synthetic-article generator for tests and benches)


@dataclass
class Outcome:
    """What the scenario measured."""

    idle: dict[str, float]
    asks: list[tuple[str, int, float, str]] = field(default_factory=list)  # (question, exit code, seconds, stderr)
    waits: list[float] = field(default_factory=list)  # seconds each question waited for the writer
    # Per answered question, seconds: end to end, and the parts its timings name (see PARTS)
    parts: list[dict[str, float]] = field(default_factory=list)
    ingest_rc: int = -1
    lock_waits: list[float] = field(default_factory=list)  # the ingest's wait for readers, per write batch
    lock_holds: list[float] = field(default_factory=list)  # how long it held the store, per write batch
    loads: list[float] = field(default_factory=list)  # the 1-minute load average, sampled at each loaded question
    ingest_s: float = 0.0
    ingest_err: str = ""
    store_equal: bool = False
    store_diff: str = ""
    first_ask_s: float = 0.0  # the first question (starts the daemon, or loads the models in-process)
    daemon: str = ""  # "pid N throughout", or what changed

    @property
    def answered(self) -> float:
        return sum(1 for _, rc, _, _ in self.asks if rc in (0, 3)) / max(len(self.asks), 1)

    def worst_ratio(self) -> float:
        """Largest seconds / (2 x idle + 1) over the concurrent questions (<= 1 meets the target)."""
        return max((s / (2 * self.idle[q] + 1) for q, _, s, _ in self.asks), default=0.0)


def _env(store: Path) -> dict[str, str]:
    # ASK_SERVER explicitly: the tests' conftest (imported above) turns it off for the test processes.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "ARTICLEQA_STORE_PATH": str(store),
            "ARTICLEQA_COLLECTION": "concurrency", "PYTHONPATH": str(TARGET), "ARTICLEQA_ASK_SERVER": "auto"}


def _cli(args: list[str], store: Path, timeout: float = 900,
         extra: dict[str, str] | None = None) -> tuple[int, float, str, str]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "articleqa", *args], cwd=TARGET, env={**_env(store), **(extra or {})},
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, time.perf_counter() - t, p.stdout, p.stderr


# The parts of a question's time, from its timings: the client process (start-up, request, printing: end to end
# minus the daemon's "served"; all of it for an in-process answer), waiting in the daemon for the questions before
# it, waiting for the writer, reopening the store after a write, and the answer itself (retrieval to checked answer).
PARTS = ("client", "queued", "writer wait", "reopen", "answer")


def parts(seconds: float, timings: dict[str, float]) -> dict[str, float]:
    """A question's end-to-end seconds and its PARTS (0 where the answering process did not report one)."""
    served = float(timings.get("served", 0.0))
    return {"end to end": seconds, "client": seconds - served if served else seconds,
            "queued": float(timings.get("queued", 0.0)), "writer wait": float(timings.get("store_wait", 0.0)),
            "reopen": float(timings.get("reopen", 0.0)), "answer": float(timings.get("total", 0.0))}


def daemon_pid(store: Path) -> int | None:
    """The pid the store's answer registry names (None when no daemon is registered)."""
    try:
        return int(json.loads((store / ".articleqa.answer.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def stop_daemon(store: Path) -> None:
    """SIGTERM the store's answer daemon (it withdraws its registry) and wait for it to go."""
    pid = daemon_pid(store)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        if daemon_pid(store) is None:
            return
        time.sleep(0.1)


def write_corpus(folder: Path, first: int, n: int, sentences: int) -> list[Path]:
    """One JSONL file per article (a feed drops files one by one)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first, first + n):
        p = folder / f"article-{i:04d}.jsonl"
        p.write_text(json.dumps(make_article(i, sentences=sentences)) + "\n")
        paths.append(p)
    return paths


def questions(n: int) -> list[str]:
    """Questions about the seed articles (answerable before and during the ingest)."""
    out = []
    for i in range(n):
        a = make_article(i)
        person, _, rest = a["title"].partition(" unveils ")
        out.append(f"What did {person} announce in {rest.split(' in ')[-1].split(' (')[0]}?")
    return out


def snapshot(store: Path) -> dict[str, object]:
    """Records (id -> hash, passages) and passage ids of a store, for comparing with a clean run."""
    from articleqa.embed import get_embedder
    from articleqa.settings import Settings
    from articleqa.store import Store

    s = Settings(store_path=store, collection="concurrency")
    st = Store(s, get_embedder(s))
    recs = {r.id: (r.hash, r.passages, r.pending) for r in st.records().values()}
    ids = sorted(i for page, _, _ in st.iter_passages() for i in page)
    return {"records": recs, "passages": ids}


def run_scenario(work: Path, articles: int, loops: int, seed: int = 6, sentences: int = 30,
                 idle_runs: int = 2, local: bool = False, ingest_nice: int | None = None) -> Outcome:
    """Run the whole scenario in `work` (emptied first) and return what was measured (the daemon is stopped)."""
    stop_daemon(work / "store")
    shutil.rmtree(work, ignore_errors=True)
    try:
        return _scenario(work, articles, loops, seed, sentences, idle_runs, local, ingest_nice)
    finally:
        stop_daemon(work / "store")


def _scenario(work: Path, articles: int, loops: int, seed: int, sentences: int, idle_runs: int, local: bool,
              ingest_nice: int | None) -> Outcome:
    store, clean = work / "store", work / "clean"
    seed_files = write_corpus(work / "seed", 0, seed, sentences)
    new_files = write_corpus(work / "new", seed, articles, sentences)
    rc, _, _, err = _cli(["ingest", *map(str, seed_files), "--quiet"], store)
    assert rc == 0, err
    qs = questions(seed)
    how = ["--local"] if local else []
    # The first question starts the daemon (or, --local, warms the page cache with the models): timed apart.
    first = _cli(["ask", qs[0], *how], store)[1]
    pid = daemon_pid(store)
    idle = {q: statistics.median(_cli(["ask", q, "--json", *how], store)[1] for _ in range(idle_runs)) for q in qs}
    out = Outcome(idle=idle, first_ask_s=first)
    done = threading.Event()
    lock = threading.Lock()

    def loop(k: int) -> None:
        i = k
        while not done.is_set():
            q = qs[i % len(qs)]
            rc, secs, stdout, err = _cli(["ask", q, "--json", *how], store)
            with lock:
                out.loads.append(os.getloadavg()[0])
                out.asks.append((q, rc, secs, err.strip().splitlines()[-1] if err.strip() else ""))
                try:
                    out.parts.append(parts(secs, json.loads(stdout)["timings"]))
                    out.waits.append(out.parts[-1]["writer wait"])
                except (ValueError, KeyError, TypeError):
                    pass
            i += loops

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(loops)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the loops are asking before the first article arrives
    # Small embedding batches: the ingest writes every 64 passages, so questions meet many write windows.
    extra = {"ARTICLEQA_EMBED_BATCH_SIZE": "8"}
    if ingest_nice is not None:
        extra["ARTICLEQA_INGEST_NICE"] = str(ingest_nice)
    out.ingest_rc, out.ingest_s, report, out.ingest_err = _cli(["ingest", str(work / "new"), "--json"], store,
                                                               timeout=4 * 3600, extra=extra)
    try:
        data = json.loads(report)
        out.lock_waits, out.lock_holds = list(data.get("lock_waits", [])), list(data.get("lock_holds", []))
    except ValueError:
        out.ingest_err += f"\ningest --json printed no JSON: {report[-300:]!r}"
    done.set()
    for t in threads:
        t.join()
    after = daemon_pid(store)
    out.daemon = ("none (--local)" if local and pid is None else f"pid {pid} throughout" if pid == after
                  else f"changed: pid {pid} before, {after} after")
    rc, _, _, err = _cli(["ingest", *map(str, seed_files), str(work / "new"), "--quiet"], clean)
    assert rc == 0, err
    got, want = snapshot(store), snapshot(clean)
    out.store_equal = got == want
    if not out.store_equal:
        missing = set(want["records"]) ^ set(got["records"])
        out.store_diff = (f"records differ: {sorted(missing)[:5]}; "
                          f"passages {len(got['passages'])} vs {len(want['passages'])}")
    del new_files
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/articleqa-concurrency"))
    ap.add_argument("--articles", type=int, default=80)
    ap.add_argument("--loops", type=int, default=4)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--sentences", type=int, default=30, help="sentences per synthetic article")
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose articleqa runs the scenario")
    ap.add_argument("--local", action="store_true", help="every ask in its own process (no answer daemon)")
    ap.add_argument("--ingest-nice", type=int, default=None, help="ARTICLEQA_INGEST_NICE for the ingest")
    ap.add_argument("--idle-runs", type=int, default=2, help="idle runs per question (their median)")
    a = ap.parse_args()
    global TARGET
    TARGET = a.repo.resolve()
    t0 = time.perf_counter()
    print(f"command: {' '.join(sys.argv)}; repo {TARGET}; {os.cpu_count()} cores; "
          f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
    out = run_scenario(a.work, a.articles, a.loops, a.seed, a.sentences, a.idle_runs, a.local, a.ingest_nice)
    secs = [s for _, _, s, _ in out.asks]
    refused = [e for _, rc, _, e in out.asks if rc not in (0, 3)]
    print(f"first ask (starts the daemon{' / loads the models' if a.local else ''}): {out.first_ask_s:.1f} s; "
          f"answer daemon: {out.daemon}")
    print(f"idle ask: median {statistics.median(out.idle.values()):.2f} s (per question: "
          + ", ".join(f"{v:.2f}" for v in out.idle.values()) + ")")
    print(f"ingest of {a.articles} articles: exit {out.ingest_rc}, {out.ingest_s:.1f} s")
    print(f"questions during the ingest: {len(out.asks)}, answered {out.answered:.1%}, refused/errors {len(refused)}")
    if secs:
        p95 = sorted(secs)[int(0.95 * (len(secs) - 1))]
        print(f"ask seconds: median {statistics.median(secs):.2f}, p95 {p95:.2f}, max {max(secs):.2f}; "
              f"worst / (2 x idle + 1) = {out.worst_ratio():.2f} (target <= 1)")
    if out.parts:
        print("parts of a loaded question, seconds (median / p95 / max):")
        for name in PARTS:
            got = sorted(p[name] for p in out.parts)
            print(f"  {name:12s} {statistics.median(got):.3f} / {got[int(0.95 * (len(got) - 1))]:.3f} / {got[-1]:.3f}")
        # Where the tail comes from: which part made the slowest questions slow.
        for p in sorted(out.parts, key=lambda p: p["end to end"])[-5:]:
            print(f"  slow: {p['end to end']:.2f} s = " + ", ".join(f"{n} {p[n]:.2f}" for n in PARTS))
    if out.lock_holds:
        print(f"ingest held the store {len(out.lock_holds)} times: median {statistics.median(out.lock_holds):.3f} s, "
              f"max {max(out.lock_holds):.3f} s; waited for readers: max {max(out.lock_waits):.3f} s")
    if out.loads:
        print(f"load average (1 min) during the ingest: min {min(out.loads):.1f}, median "
              f"{statistics.median(out.loads):.1f}, max {max(out.loads):.1f} on {os.cpu_count()} cores")
    print(f"store equals a clean run: {out.store_equal} {out.store_diff}")
    for e in refused[:5]:
        print(f"  refused: {e}")
    print(f"bench wall time: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
