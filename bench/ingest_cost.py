"""What one ingest run costs before its first article, and what the first question pays after a bulk ingest, as the
store grows; for two versions of the code (e.g. main and this branch) on the same stores.

For each store (built by bench/scale.py) a `chroma run` serves it, and for each code version a child process (run
with that code on PYTHONPATH, the embedding model loaded once, as in a long-running feed ingester) measures:
- `first run`: one new article into the store with an empty cache folder (this branch builds its fingerprint cache
  here, once per store and machine);
- `rerun s`: ingesting an article that is already stored (nothing embedded or written: the run's fixed cost alone),
  and `new article s`: ingesting one new article (embedding and writing included), each a fresh `Ingestor.run`, as a
  fresh `articleqa ingest` process would do, `--repeats` times (median);
- `cli s`: one `articleqa ingest` process for one new article, wall clock (interpreter, imports, model load included);
- `bulk`: an `articleqa ingest` of the SQuAD dev corpus (206 articles, 356 passages) with a keyword index on this
  machine that was current before it; then a new "chat" process's first keyword catch-up and first question.
Every article the bench adds is deleted again at the end, so the stores stay as built.

`lsh` measures the choice of the near-duplicate index at 70k stored signatures (a year of a feed): rebuilding
datasketch's in-memory LSH from the cached signatures, unpickling a saved one, or the SQLite band table.

Examples (the figures in docs/scaling.md):
    python bench/ingest_cost.py lsh --signatures 70000
    git -C /work/main archive main | tar -x -C /tmp/articleqa-main          # the code before, once
    python bench/ingest_cost.py --stores /tmp/scale/p16000 /tmp/scale/p149000 \\
        --code main=/tmp/articleqa-main branch=. --json bench/out/ingest_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SQUAD = REPO.parent / "shared" / "data" / "squad2-dev" / "corpus.jsonl"
QUESTION = "What did the harbour authority open on Tuesday?"


def new_article(tag: str, i: int) -> dict:
    """A short article with words of its own, so no stored article is a near-duplicate of it."""
    word = f"qorvanth{tag}{i}"
    text = (f"The {word} harbour authority opened a tidal power station on Tuesday, its director said. "
            f"The {word} station cost {100 + i} million euros and will power {9000 + i} homes along the coast. "
            f"Engineers from {word} spent four years building the turbines in the estuary, the report added.")
    return {"id": f"cost-{tag}-{i}", "title": f"{word} tidal station opens", "text": text,
            "publish_date": "2025-11-20", "source": "Ingest Cost Wire"}


# ---- child: runs with the code under test --------------------------------------------------------------------------
def child(args: argparse.Namespace) -> None:
    """Time ingest runs in this process (the model loaded once) and print one JSON object."""
    from articleqa.embed import get_embedder
    from articleqa.settings import Settings, offline_environment

    offline_environment()
    from ingest.pipeline import Ingestor

    settings = Settings(chroma_url=args.url, collection=args.collection, cache_dir=args.cache)
    embedder = get_embedder(settings)
    embedder.encode_passages(["warm up the model"])
    work = Path(args.cache) / "inputs"
    work.mkdir(parents=True, exist_ok=True)

    def run(article: dict) -> dict:
        path = work / f"{article['id']}.jsonl"
        path.write_text(json.dumps(article) + "\n")
        t = time.perf_counter()
        report = Ingestor(settings, embedder=embedder).run([str(path)])
        seconds = time.perf_counter() - t
        assert report.ok, report.summary()
        return {"seconds": seconds, "setup_s": getattr(report, "setup_seconds", None),
                "embed_s": report.embed_seconds, "counts": report.counts()}

    import ingest

    out: dict = {"code": str(Path(ingest.__file__).resolve().parents[1]), "first": run(new_article(args.tag, 0))}
    out["new"] = [run(new_article(args.tag, i)) for i in range(1, args.repeats + 1)]
    out["rerun"] = [run(new_article(args.tag, 1)) for _ in range(args.repeats)]
    assert all(r["counts"]["unchanged"] == 1 for r in out["rerun"]), out["rerun"]
    assert all(r["counts"]["added"] == 1 for r in out["new"] + [out["first"]]), out["new"]
    print(json.dumps(out), flush=True)


def asker_child(args: argparse.Namespace) -> None:
    """A new "chat" process: its first keyword catch-up and first question, timed apart."""
    from articleqa.settings import Settings, offline_environment

    offline_environment()
    from qa.ask import Asker

    asker = Asker(Settings(chroma_url=args.url, collection=args.collection, cache_dir=args.cache))
    keywords = asker.retriever.keywords
    t = time.perf_counter()
    keywords.refresh()  # what the first question would do first
    catchup = time.perf_counter() - t
    t = time.perf_counter()
    asker.ask(QUESTION)
    import qa

    print(json.dumps({"code": str(Path(qa.__file__).resolve().parents[1]),
                      "catchup_s": catchup, "first_question_s": time.perf_counter() - t,
                      "rebuilds": keywords.stats.rebuilds, "articles_applied": keywords.stats.articles_applied}),
          flush=True)


# ---- near-duplicate index: rebuild in memory, unpickle, or SQLite band table -------------------------------------
def lsh_choice(args: argparse.Namespace) -> None:
    """What each way of getting the stored signatures' LSH into an ingest run costs at `--signatures` articles."""
    import pickle
    import tempfile

    import numpy as np

    from articleqa.settings import Settings
    from articleqa.store import ArticleRecord
    from ingest import dedup
    from ingest.fingerprints import Fingerprints, _transaction

    rng = np.random.default_rng(0)
    sigs = rng.integers(0, 2**32, (args.signatures, dedup.NUM_PERM), dtype=np.uint64).astype(np.uint32)
    out: dict[str, float] = {"signatures": args.signatures}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Fingerprints(Settings(cache_dir=Path(tmp)), store=None)  # type: ignore[arg-type] - no Chroma here
        db = cache._connect()
        t = time.perf_counter()
        with _transaction(db):
            for i, sig in enumerate(sigs):
                cache._put(db, ArticleRecord(id=f"a{i:07d}", hash="h", text_hash=f"t{i}", passages=10,
                                             minhash=dedup.encode(sig)))
        out["sqlite_build_s"] = time.perf_counter() - t
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        out["sqlite_mb"] = cache.path.stat().st_size / 2**20
        t = time.perf_counter()
        for k in range(200):
            cache.candidates(sigs[(k * 997) % len(sigs)])
            cache.same_text(f"t{k}")
            cache.get(f"a{k:07d}")
        out["sqlite_lookup_ms"] = (time.perf_counter() - t) / 200 * 1000
        t = time.perf_counter()
        rows = db.execute("SELECT id, minhash FROM article").fetchall()
        out["read_signatures_s"] = time.perf_counter() - t
        t = time.perf_counter()
        finder = dedup.DuplicateFinder(0.8)
        for article_id, blob in rows:
            finder.add(article_id, np.frombuffer(blob, dtype="<u4").astype(np.uint32))
        out["datasketch_rebuild_s"] = time.perf_counter() - t
        blob = pickle.dumps(finder)
        t = time.perf_counter()
        pickle.loads(blob)
        out["datasketch_unpickle_s"] = time.perf_counter() - t
        out["datasketch_pickle_mb"] = len(blob) / 2**20
        cache.close()
    print(json.dumps(out))


# ---- parent --------------------------------------------------------------------------------------------------------
def _env(code: Path, url: str, collection: str, cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "ARTICLEQA_CHROMA_URL": url, "ARTICLEQA_COLLECTION": collection,
            "ARTICLEQA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "ARTICLEQA_ASK_SERVER": "off"}


def _child_json(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> dict:
    # In the code's own folder: `python -m` puts the working directory before PYTHONPATH.
    got = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=env["PYTHONPATH"])
    if got.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {got.stderr[-3000:]}")
    try:
        return json.loads(got.stdout)  # `articleqa ingest --json` prints one indented object
    except json.JSONDecodeError:
        return json.loads(got.stdout.strip().splitlines()[-1])  # the children print one line last


def measure(store: Path, code: Path, label: str, args: argparse.Namespace, url: str, kw_base: Path) -> dict:
    """Every figure for one store and one code version."""
    cache = store.parent / f"{store.name}-cost-{label}"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    env = _env(code, url, args.collection, cache)
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--url", url, "--collection", args.collection, "--cache", str(cache), "--tag", label]
    runs = _child_json([*me, "child", *common, "--repeats", str(args.repeats)], env)
    assert runs["code"] == str(code), f"the child ran {runs['code']}, not {code}"
    out = {
        "first_run_s": runs["first"]["seconds"],
        "first_run_setup_s": runs["first"]["setup_s"],
        "rerun_s": statistics.median(r["seconds"] for r in runs["rerun"]),
        "new_article_s": statistics.median(r["seconds"] for r in runs["new"]),
        "new_article_embed_s": statistics.median(r["embed_s"] for r in runs["new"]),
    }
    if runs["new"][0]["setup_s"] is not None:
        out["setup_s"] = statistics.median(r["setup_s"] for r in runs["new"] + runs["rerun"])
    # One CLI process for one new article (the cache is warm from the runs above).
    src = cache / "cli.jsonl"
    src.write_text(json.dumps(new_article(label, 900)) + "\n")
    t = time.perf_counter()
    _child_json([sys.executable, "-m", "ingest", str(src), "--json", "--quiet"], env)
    out["cli_s"] = time.perf_counter() - t
    # Bulk ingest with this machine's keyword index current before it, then a new process's first question.
    for kw in kw_base.glob("keyword-*"):
        shutil.copytree(kw, cache / kw.name, dirs_exist_ok=True)
    t = time.perf_counter()
    bulk = _child_json([sys.executable, "-m", "ingest", str(args.bulk), "--json", "--quiet"], env)
    out["bulk_ingest_s"] = time.perf_counter() - t
    out["bulk_articles"] = bulk["counts"]["added"]
    out["bulk_passages"] = bulk["passages_embedded"]
    asked = _child_json([*me, "asker", *common], env)
    assert asked.pop("code") == str(code), "the asker ran other code"
    out.update({f"after_bulk_{k}": v for k, v in asked.items()})
    return out


def cleanup(url: str, collection: str, prefixes: tuple[str, ...], bulk_ids: set[str]) -> int:
    """Delete what the bench added (its own articles and the bulk corpus's)."""
    from articleqa.embed import get_embedder
    from articleqa.settings import Settings
    from articleqa.store import Store

    settings = Settings(chroma_url=url, collection=collection)
    store = Store(settings, get_embedder(settings))
    store.recover()
    ids = [rid for rid in store.records_by_id(sorted(bulk_ids))]
    got = store.articles.get(where={"source": "Ingest Cost Wire"}, include=[])
    ids += [rid for rid in got["ids"] if rid.startswith(prefixes)]
    for rid in ids:
        store.delete_article(rid)
    return len(ids)


def build_keyword_index(url: str, collection: str, kw_base: Path) -> float:
    """The keyword index of the store as it was built (once per store), copied into each version's cache."""
    from articleqa.embed import get_embedder
    from articleqa.settings import Settings
    from articleqa.store import Store
    from qa.keyword_index import KeywordIndex

    settings = Settings(chroma_url=url, collection=collection, cache_dir=kw_base)
    t = time.perf_counter()
    KeywordIndex(settings, Store(settings, get_embedder(settings))).refresh()
    return time.perf_counter() - t


def main() -> None:
    from articleqa.settings import offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    lsh = sub.add_parser("lsh", help="near-duplicate index: rebuild, unpickle or SQLite lookup, at N signatures")
    lsh.add_argument("--signatures", type=int, default=70_000)
    for name in ("child", "asker"):
        c = sub.add_parser(name, help=argparse.SUPPRESS)
        c.add_argument("--url", required=True)
        c.add_argument("--collection", required=True)
        c.add_argument("--cache", required=True)
        c.add_argument("--tag", required=True)
        c.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stores", type=Path, nargs="+", help="store folders built by bench/scale.py")
    parser.add_argument("--code", nargs="+", default=[f"branch={REPO}"],
                        help="LABEL=DIR: the code versions to compare (DIR is put first on PYTHONPATH)")
    parser.add_argument("--collection", default="articles")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the median is reported)")
    parser.add_argument("--bulk", type=Path, default=SQUAD, help="JSONL of new articles for the bulk ingest")
    parser.add_argument("--json", type=Path, help="merge the figures into this file")
    args = parser.parse_args()
    if args.cmd == "child":
        child(args)
        return
    if args.cmd == "asker":
        asker_child(args)
        return
    if args.cmd == "lsh":
        lsh_choice(args)
        return
    if not args.stores:
        parser.error("--stores is required")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scale import start_server  # noqa: E402 - bench/ is not a package

    codes = [(c.split("=", 1)[0], Path(c.split("=", 1)[1]).resolve()) for c in args.code]
    bulk_ids = {json.loads(x).get("doc_id") or json.loads(x).get("id") for x in args.bulk.read_text().splitlines()
                if x.strip()}
    results = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    for store in args.stores:
        server, url = start_server(store)
        try:
            prefixes = tuple(f"cost-{label}-" for label, _ in codes)
            cleanup(url, args.collection, prefixes, bulk_ids)  # a run stopped midway left some behind
            kw_base = store.parent / f"{store.name}-cost-keyword"
            row = results.setdefault(store.name, {})
            row["keyword_index_build_s"] = build_keyword_index(url, args.collection, kw_base)
            from articleqa.embed import get_embedder
            from articleqa.settings import Settings
            from articleqa.store import Store

            s = Settings(chroma_url=url, collection=args.collection)
            st = Store(s, get_embedder(s))
            row["articles"], row["passages"] = st.articles.count(), st.count_passages()
            for label, code in codes:
                t = time.perf_counter()
                row[label] = measure(store, code, label, args, url, kw_base)
                row[label]["deleted_after"] = cleanup(url, args.collection, prefixes, bulk_ids)
                row[label]["measure_s"] = time.perf_counter() - t
                print(json.dumps({store.name: {label: row[label]}}), file=sys.stderr, flush=True)
                if args.json:
                    args.json.parent.mkdir(parents=True, exist_ok=True)
                    args.json.write_text(json.dumps(results, indent=1))
        finally:
            server.terminate()
            server.wait(60)
    print(table(results, [label for label, _ in codes]))


def table(results: dict, labels: list[str]) -> str:
    """The Markdown table of docs/scaling.md: one row per store and code version."""
    cols = [("rerun, nothing new s", "rerun_s", "{:.2f}"), ("one new article s", "new_article_s", "{:.2f}"),
            ("of which setup s", "setup_s", "{:.2f}"), ("first run (empty cache) s", "first_run_s", "{:.1f}"),
            ("`articleqa ingest` one article s", "cli_s", "{:.1f}"),
            ("bulk ingest s", "bulk_ingest_s", "{:.0f}"),
            ("then first keyword catch-up s", "after_bulk_catchup_s", "{:.2f}"),
            ("then first question s", "after_bulk_first_question_s", "{:.2f}")]
    lines = ["| articles / passages | code | " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for _, row in sorted(results.items(), key=lambda kv: kv[1].get("passages", 0)):
        for label in labels:
            r = row.get(label)
            if not r:
                continue
            cells = [fmt.format(r[key]) if r.get(key) is not None else "-" for _, key, fmt in cols]
            lines.append(f"| {row['articles']:,} / {row['passages']:,} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
