"""Scale benchmark: stores of 10k / 100k / 1M passages and what a newsroom feels at each size.

The stores are built from a seed store holding real news (the RealTimeQA dev corpus, ingested once), its articles
repeated with new ids, dates shifted by a day per copy and the stored vectors reused with a little noise (embedding
cost is linear and measured by bench/ingest_bench.py). Every size is then measured against a Chroma server
(`chroma run` on the store), a "chat" child process asking questions, and this process writing new articles:

- new article answerable: a real ingest (embedding included) here, then the time until the child's next question
  finds its passage (keyword catch-up + question);
- question latency p50/p95 (extractive, warm), process start to first answer (cold: no keyword index yet; warm:
  the index file exists), the child's RSS, disk size (Chroma + keyword index);
- keyword catch-up in the child after 1 and after 100 new articles (stored with reused vectors).

Examples:
    articleqa ingest ../shared/data/realtimeqa-dev/corpus.jsonl --store /tmp/rtqa      # the seed store, once
    nice -n 10 python bench/scale.py build --seed /tmp/rtqa --out /tmp/scale --sizes 10000 100000 1000000
    python bench/scale.py measure --out /tmp/scale --sizes 10000 100000 1000000 --json bench/out/scale.json
    python bench/scale.py plot --json bench/out/scale.json --png docs/scaling.png

`build` resumes where it stopped (copies are whole write batches); `measure` never changes the built passages
except for the new articles it adds (marked `scale-new-*`, deleted again at the end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO.parent / "shared" / "data" / "realtimeqa-dev" / "questions.jsonl"


# ---- seed and build --------------------------------------------------------------------------------------------
@dataclass
class SeedArticle:
    record: dict  # Chroma metadata of the article record
    id: str
    text: str
    vector: np.ndarray
    pids: list[str]
    docs: list[str]
    metas: list[dict]
    vectors: np.ndarray


def load_seed(path: Path, collection: str = "articles") -> list[SeedArticle]:
    """Every committed article of the seed store with its passages and stored vectors."""
    import chromadb

    client = chromadb.PersistentClient(path=str(path))
    arts = client.get_collection(f"{collection}__articles").get(include=["metadatas", "documents", "embeddings"])
    pas = client.get_collection(collection).get(include=["metadatas", "documents", "embeddings"])
    by_article: dict[str, list[int]] = {}
    for i, m in enumerate(pas["metadatas"]):
        by_article.setdefault(m["article_id"], []).append(i)
    out = []
    for rid, meta, doc, vec in zip(arts["ids"], arts["metadatas"], arts["documents"], arts["embeddings"], strict=True):
        rows = [i for i in by_article.get(rid, []) if pas["metadatas"][i].get("content_hash") == meta.get("hash")]
        if not rows or meta.get("pending"):
            continue
        out.append(SeedArticle(meta, rid, doc or "", np.asarray(vec, dtype=np.float32), [pas["ids"][i] for i in rows],
                               [pas["documents"][i] for i in rows], [pas["metadatas"][i] for i in rows],
                               np.asarray([pas["embeddings"][i] for i in rows], dtype=np.float32)))
    return out


def staged_copy(seed: SeedArticle, copy: int, rng: np.random.Generator, prefix: str = "c"):
    """Copy `copy` of a seed article as a StagedArticle: new id, date shifted `copy` days, vectors jittered."""
    from articleqa.store import ArticleRecord, PassageRows, StagedArticle, date_ordinal

    new_id = f"{prefix}{copy:05d}-{seed.id}"
    rec = ArticleRecord.from_chroma(new_id, seed.record)
    date = _shift(rec.date, copy)
    rec = rec.with_pending("", date=date, aliases=[])
    day = date_ordinal(date)
    noise = rng.normal(0.0, 0.02, seed.vectors.shape).astype(np.float32)  # distinct vectors keep HNSW honest
    vecs = seed.vectors + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    metas = [{**m, "article_id": new_id, "date": date, "date_ts": day} for m in seed.metas]
    rows = PassageRows(ids=[pid.replace(seed.id, new_id, 1) for pid in seed.pids], documents=list(seed.docs),
                       metadatas=metas, embeddings=list(vecs))
    return StagedArticle(rec, seed.text, seed.vector, rows, None)


def _shift(date: str, days: int) -> str:
    try:
        return (dt.date.fromisoformat(date[:10]) - dt.timedelta(days=days)).isoformat()
    except ValueError:
        return date


def build(seed_path: Path, out: Path, size: int, batch: int = 60, seed_collection: str = "articles") -> None:
    """Grow the store at `out` to at least `size` passages (resumable: copies already there are kept)."""
    from tqdm import tqdm

    from articleqa.embed import get_embedder
    from articleqa.settings import Settings
    from articleqa.store import Store

    seed = load_seed(seed_path, seed_collection)
    per_copy = sum(len(s.pids) for s in seed)
    settings = Settings(store_path=out, collection="articles")
    store = Store(settings, get_embedder(settings))
    store.recover()
    have = store.count_passages()
    copies = -(-size // per_copy)
    done = have // per_copy
    rng = np.random.default_rng(done)
    print(f"build {out}: {have} passages, {per_copy} per copy, copies {done}..{copies}", file=sys.stderr)
    with tqdm(total=copies * per_copy, initial=done * per_copy, unit="passage", desc=out.name) as bar:
        for c in range(done, copies):
            for i in range(0, len(seed), batch):
                part = seed[i : i + batch]
                store.write([staged_copy(s, c, rng) for s in part])
                bar.update(sum(len(s.pids) for s in part))


def cmd_build(args: argparse.Namespace) -> None:
    """Build the sizes in turn, each as a copy of the one below plus the missing passages."""
    previous = None
    for size in sorted(args.sizes):
        target = args.out / f"p{size}"
        if previous is not None and not target.exists():
            shutil.copytree(previous, target, ignore=shutil.ignore_patterns(".articleqa*"))
        t = time.perf_counter()
        build(args.seed, target, size, seed_collection=args.seed_collection)
        print(f"built {target} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        previous = target


# ---- measuring ---------------------------------------------------------------------------------------------------
def free_port(preferred: int) -> int:
    """`preferred` when free, else any free port. The same port on every run matters: in server mode the keyword
    index is kept per server URL, so a new port would mean a new (cold) index."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    """`chroma run` on the store folder; returns it with its URL once it answers its heartbeat."""
    import httpx

    port = free_port(18000 + int(path.name.lstrip("p") or 0) % 997)
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    proc = subprocess.Popen([chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"chroma run on {path} did not answer in 600 s")


class Child:
    """The "chat" process: a subprocess of this script answering commands on stdin with JSON lines."""

    def __init__(self, url: str, cache: Path):
        env = {**os.environ, "ARTICLEQA_CHROMA_URL": url, "ARTICLEQA_CACHE_DIR": str(cache),
               "PYTHONPATH": str(REPO)}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, __file__, "child"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)

    def call(self, **command) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 3600)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the child process gave no answer to {command}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(60)


def child() -> None:
    """Child side: ask (timed), catch up the keyword index (timed), report RSS."""
    import psutil

    from articleqa.settings import Settings, offline_environment

    offline_environment()
    from qa.ask import Asker

    asker = Asker(Settings())
    for line in sys.stdin:
        cmd = json.loads(line)
        t = time.perf_counter()
        if cmd["op"] == "ask":
            answer = asker.ask(cmd["question"])
            seen = [p.article_id for p in answer.passages]
            reply = {"seconds": time.perf_counter() - t, "articles": seen, "timings": answer.timings}
        elif cmd["op"] == "catchup":
            before = asker.retriever.keywords.stats.articles_applied
            asker.retriever.keywords.refresh()
            stats = asker.retriever.keywords.stats
            reply = {"seconds": time.perf_counter() - t, "applied": stats.articles_applied - before,
                     "rebuilds": stats.rebuilds}
        else:
            reply = {"rss_mb": psutil.Process().memory_info().rss / 2**20,
                     "rebuilds": asker.retriever.keywords.stats.rebuilds}
        print(json.dumps(reply), flush=True)


def new_article(i: int, day: str) -> dict:
    """A fresh article with a word no seed article has, so finding it is unambiguous."""
    word = f"zelqarvian{i}"
    text = (f"The {word} harbour authority opened a tidal power station on Tuesday, its director said. "
            f"The {word} station cost 410 million euros and will power 90,000 homes along the coast. "
            "Engineers spent four years building the turbines in the estuary.")
    return {"id": f"scale-new-{i}", "title": f"{word.capitalize()} tidal station opens", "text": text,
            "publish_date": day, "source": "Scale Bench Wire"}


def measure_size(path: Path, questions: list[str], seed: list[SeedArticle], keep_index: bool = False) -> dict:
    """Every figure for the store at `path` (with `keep_index`, all but the cold start: the index is kept)."""
    from articleqa.embed import get_embedder
    from articleqa.settings import Settings
    from articleqa.store import Store
    from ingest.pipeline import Ingestor

    server, url = start_server(path)
    cache = path.parent / f"{path.name}-cache"
    keep_index = keep_index and cache.exists()
    if not keep_index:
        shutil.rmtree(cache, ignore_errors=True)
    out: dict = {"passages": 0}
    try:
        settings = Settings(chroma_url=url, collection="articles", cache_dir=cache)
        store = Store(settings, get_embedder(settings))
        out["passages"] = store.count_passages()
        for label in ("warm",) if keep_index else ("cold", "warm"):  # cold: no keyword index yet (full rebuild)
            kid = Child(url, cache)
            first = kid.call(op="ask", question=questions[0])
            out[f"start_to_first_answer_{label}_s"] = time.perf_counter() - kid.started
            if label == "cold":
                out["first_question_cold_s"] = first["seconds"]
                kid.close()
        kid.call(op="ask", question=questions[1])
        lat = [kid.call(op="ask", question=q)["seconds"] for q in questions]
        out["question_p50_s"] = statistics.median(lat)
        out["question_p95_s"] = float(np.percentile(lat, 95))
        out["rss_mb"] = kid.call(op="rss")["rss_mb"]
        # One real ingest (embedding included), then the child's next question must find it.
        ing = Ingestor(settings, embedder=get_embedder(settings))
        day = dt.date.today().isoformat()
        src = path.parent / f"{path.name}-new.jsonl"
        src.write_text(json.dumps(new_article(0, day)) + "\n")
        assert ing.run([str(src)]).ok  # warm-up: models loaded, as in a running ingest service
        kid.call(op="ask", question=questions[2])
        art = new_article(1, day)
        src.write_text(json.dumps(art) + "\n")
        t = time.perf_counter()
        assert ing.run([str(src)]).ok
        out["ingest_one_s"] = time.perf_counter() - t
        t = time.perf_counter()
        found = kid.call(op="ask", question=f"What did the {art['title'].split()[0]} harbour authority open?")
        out["new_answerable_after_ingest_s"] = time.perf_counter() - t
        out["new_found"] = art["id"] in found["articles"]
        out["new_article_total_s"] = out["ingest_one_s"] + out["new_answerable_after_ingest_s"]
        # Keyword catch-up after 1 and after 100 new articles (vectors reused: only the catch-up is timed).
        rng = np.random.default_rng(7)
        for n in (1, 100):
            store.write([staged_copy(seed[i % len(seed)], 90000 + n, rng, prefix="scale-new-k")
                         for i in range(n)])
            got = kid.call(op="catchup")
            out[f"catchup_{n}_s"] = got["seconds"]
            out[f"catchup_{n}_applied"] = got["applied"]
        out["child_rebuilds_incl_start"] = kid.call(op="rss")["rebuilds"]
        kid.close()
        for rid in [r for r in store.records() if r.startswith("scale-new-")]:
            store.delete_article(rid)
    finally:
        server.terminate()
        server.wait(60)
    out["disk_store_mb"] = _du(path) / 2**20
    out["disk_keyword_mb"] = _du(cache) / 2**20
    return out


def _du(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def cmd_measure(args: argparse.Namespace) -> None:
    questions = [json.loads(x)["question"] for x in QUESTIONS.read_text().splitlines() if x.strip()][: args.questions]
    seed = load_seed(args.seed, args.seed_collection)
    results = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    for size in sorted(args.sizes):
        path = args.out / f"p{size}"
        if not path.exists():
            print(f"skip {size}: {path} not built", file=sys.stderr)
            continue
        t = time.perf_counter()
        results[str(size)] = {**results.get(str(size), {}), **measure_size(path, questions, seed, args.keep_index)}
        results[str(size)]["measure_s"] = time.perf_counter() - t
        print(json.dumps({size: results[str(size)]}, indent=1), file=sys.stderr)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


def table(results: dict) -> str:
    """The Markdown table of docs/scaling.md."""
    cols = [("passages", "passages", "{:,.0f}"), ("new article answerable (ingest + next question) s",
            "new_article_total_s", "{:.1f}"), ("of which after ingest s", "new_answerable_after_ingest_s", "{:.2f}"),
            ("question p50 s", "question_p50_s", "{:.2f}"), ("question p95 s", "question_p95_s", "{:.2f}"),
            ("start to first answer (index exists) s", "start_to_first_answer_warm_s", "{:.1f}"),
            ("start to first answer (no index) s", "start_to_first_answer_cold_s", "{:.1f}"),
            ("chat RSS MB", "rss_mb", "{:.0f}"), ("disk Chroma MB", "disk_store_mb", "{:.0f}"),
            ("disk keyword MB", "disk_keyword_mb", "{:.0f}"), ("catch-up 1 article s", "catchup_1_s", "{:.3f}"),
            ("catch-up 100 articles s", "catchup_100_s", "{:.2f}")]
    lines = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in sorted(results.items(), key=lambda kv: int(kv[0])):
        lines.append("| " + " | ".join(fmt.format(r[key]) if key in r else "-" for _, key, fmt in cols) + " |")
    return "\n".join(lines)


def cmd_plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = json.loads(args.json.read_text())
    rows = sorted(results.values(), key=lambda r: r["passages"])
    x = [r["passages"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("question_p95_s", "question p95"), ("question_p50_s", "question p50"),
                       ("new_answerable_after_ingest_s", "new article: after ingest"),
                       ("catchup_100_s", "keyword catch-up, 100 articles"), ("catchup_1_s", "keyword catch-up, 1")):
        left.plot(x, [r[key] for r in rows], marker="o", label=label)
    left.set(xscale="log", xlabel="passages", ylabel="seconds", title="latency")
    left.legend(fontsize=8)
    right.plot(x, [r["rss_mb"] / 1024 for r in rows], marker="o", label="chat RSS GB")
    right.plot(x, [(r["disk_store_mb"] + r["disk_keyword_mb"]) / 1024 for r in rows], marker="o", label="disk GB")
    right.plot(x, [r["start_to_first_answer_warm_s"] / 60 for r in rows], marker="o", label="start to answer, min")
    right.set(xscale="log", xlabel="passages", title="memory, disk, start")
    right.legend(fontsize=8)
    from matplotlib.ticker import NullFormatter

    for ax in (left, right):
        ax.xaxis.set_minor_formatter(NullFormatter())  # log-axis minor labels overlap
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(table(results))


def main() -> None:
    from articleqa.settings import offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or grow) the stores")
    m = sub.add_parser("measure", help="measure the built stores")
    for p in (b, m):
        p.add_argument("--seed", type=Path, required=p is b, help="seed store (an ingested news corpus)")
        p.add_argument("--out", type=Path, required=True, help="folder for the stores p<size>/")
        p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
        p.add_argument("--seed-collection", default="articles",
                       help="the seed store's collection (bench/eval_shared.py names its collections eval-<hash>)")
    m.add_argument("--questions", type=int, default=40, help="warm questions timed per size")
    m.add_argument("--json", type=Path, help="merge the figures into this file")
    m.add_argument("--keep-index", action="store_true",
                   help="keep a keyword index built by an earlier run (skips the cold start, keeps its figure)")
    pl = sub.add_parser("plot", help="the growth-curve PNG (and the table) from a --json file")
    pl.add_argument("--json", type=Path, required=True)
    pl.add_argument("--png", type=Path, required=True)
    sub.add_parser("child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cmd == "measure" and args.seed is None:
        parser.error("measure needs --seed (the new articles reuse its vectors)")
    {"build": cmd_build, "measure": cmd_measure, "plot": cmd_plot, "child": lambda _: child()}[args.cmd](args)


if __name__ == "__main__":
    main()
