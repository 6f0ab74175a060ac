"""Keyword engines compared: bm25s (rebuilt on every write, the old index), SQLite FTS5 and tantivy.

All three index the same pre-tokenised text (bm25s English stopwords + Snowball stems, as qa/keyword_index.py), so
differences come from the engines' BM25 variants. Quality: gold-article Hit@1/4/10 and MRR@10 on RealTimeQA for
BM25 alone and for the hybrid ranking (qa/retrieve.py with the engine's hits). Speed: full build, add one article,
delete one article and query p50/p95, at the seed size and at the seed repeated `--repeat` times.

Example:
    articleqa ingest ../shared/data/realtimeqa-dev/corpus.jsonl --store /tmp/rtqa
    python bench/keyword_engines.py --store /tmp/rtqa --repeat 25 --json bench/out/keyword_engines.json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa-dev"


@dataclass
class Doc:
    pid: str
    article_id: str
    tokens: list[str]


class Bm25s:
    name = "bm25s"

    def build(self, docs: list[Doc]) -> None:
        import bm25s

        self.ids = [d.pid for d in docs]
        self.docs = list(docs)
        self.bm25 = bm25s.BM25()
        self.bm25.index([d.tokens for d in docs], show_progress=False)

    def add(self, docs: list[Doc]) -> None:  # bm25s cannot add: the old index rebuilt everything
        self.build(self.docs + docs)

    def delete(self, article_id: str) -> None:
        self.build([d for d in self.docs if d.article_id != article_id])

    def search(self, tokens: list[str], k: int) -> list[tuple[str, float]]:
        known = [t for t in tokens if t in self.bm25.vocab_dict]
        if not known:
            return []
        docs, scores = self.bm25.retrieve([known], k=min(k, len(self.ids)), show_progress=False, n_threads=1)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=False) if s > 0]


class Fts5:
    name = "sqlite-fts5"

    def build(self, docs: list[Doc]) -> None:
        self.folder = tempfile.mkdtemp(prefix="kw-fts5-")
        self.conn = sqlite3.connect(f"{self.folder}/index.sqlite3", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(
            "CREATE TABLE passages(rowid INTEGER PRIMARY KEY, pid TEXT UNIQUE, article_id TEXT);"
            "CREATE INDEX pa ON passages(article_id);"
            "CREATE VIRTUAL TABLE fts USING fts5(body, tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\");")
        self.add(docs)
        self.conn.execute("INSERT INTO fts(fts) VALUES('optimize')")

    def add(self, docs: list[Doc]) -> None:
        c = self.conn
        c.execute("BEGIN")
        for d in docs:
            row = c.execute("INSERT INTO passages(pid, article_id) VALUES (?, ?)", (d.pid, d.article_id)).lastrowid
            c.execute("INSERT INTO fts(rowid, body) VALUES (?, ?)", (row, " ".join(d.tokens)))
        c.execute("COMMIT")

    def delete(self, article_id: str) -> None:
        c = self.conn
        c.execute("BEGIN")
        rows = [(r,) for (r,) in c.execute("SELECT rowid FROM passages WHERE article_id = ?", (article_id,))]
        c.executemany("DELETE FROM fts WHERE rowid = ?", rows)
        c.executemany("DELETE FROM passages WHERE rowid = ?", rows)
        c.execute("COMMIT")

    def search(self, tokens: list[str], k: int) -> list[tuple[str, float]]:
        if not tokens:
            return []
        match = " OR ".join(f'"{t}"' for t in tokens)
        got = self.conn.execute("SELECT p.pid, -bm25(fts) FROM fts JOIN passages p ON p.rowid = fts.rowid "
                                "WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?", (match, k)).fetchall()
        return [(pid, float(s)) for pid, s in got if s > 0]


class Tantivy:
    name = "tantivy"

    def build(self, docs: list[Doc]) -> None:
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("body", stored=False, tokenizer_name="whitespace")
        sb.add_text_field("pid", stored=True, tokenizer_name="raw")
        sb.add_text_field("article", stored=False, tokenizer_name="raw")
        self.schema = sb.build()
        self.index = tantivy.Index(self.schema, path=tempfile.mkdtemp(prefix="kw-tantivy-"))
        self.writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        self.add(docs)

    def add(self, docs: list[Doc]) -> None:
        import tantivy

        for d in docs:
            self.writer.add_document(tantivy.Document(pid=d.pid, article=d.article_id, body=" ".join(d.tokens)))
        self.writer.commit()
        self.index.reload()

    def delete(self, article_id: str) -> None:
        self.writer.delete_documents_by_term("article", article_id)
        self.writer.commit()
        self.index.reload()

    def search(self, tokens: list[str], k: int) -> list[tuple[str, float]]:
        import tantivy

        if not tokens:
            return []
        q = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "body", t)) for t in tokens])
        searcher = self.index.searcher()
        hits = searcher.search(q, k).hits
        return [(searcher.doc(addr)["pid"][0], float(score)) for score, addr in hits if score > 0]


ENGINES: dict[str, Callable[[], object]] = {"bm25s": Bm25s, "sqlite-fts5": Fts5, "tantivy": Tantivy}


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    from articleqa.text import new_stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=new_stemmer(), show_progress=False, return_ids=False)


def load_docs(store) -> list[Doc]:
    out = []
    for ids, docs, metas in store.iter_passages():
        toks = tokenize([f"{(m or {}).get('title', '')}\n{d or ''}" for d, m in zip(docs, metas, strict=False)])
        out += [Doc(pid, str((m or {}).get("article_id", "")), t) for pid, m, t in zip(ids, metas, toks, strict=False)]
    return out


def quality(asker, engine, questions: list[dict]) -> dict:
    """BM25-only and hybrid Hit@k / MRR@10 with `engine` as the keyword index."""
    from qa.keyword_index import KeywordHit
    from qa.retrieve import Filters

    alias = {a: r.id for r in asker.store.records().values() for a in r.aliases}

    def search(query, k, source=None, since=None, until=None):
        return [KeywordHit(pid, s) for pid, s in engine.search(tokenize([query])[0], k)]

    asker.retriever.keywords.search = search
    ranks: dict[str, list[int | None]] = {"bm25": [], "hybrid": []}
    for q in questions:
        gold = {alias.get(g, g) for g in q["gold_doc_ids"]}
        bm25 = asker.store.get_passages([h.passage_id for h in search(q["question"], 40)])
        hybrid = asker.retriever.run(q["question"], Filters(), k=40).passages
        for name, passages in (("bm25", bm25), ("hybrid", hybrid)):
            seen: list[str] = []
            for p in passages:
                if p.article_id not in seen:
                    seen.append(p.article_id)
            ranks[name].append(next((i + 1 for i, a in enumerate(seen[:10]) if a in gold), None))
    out = {}
    for name, rs in ranks.items():
        n = len(rs)
        out[name] = {"hit@1": round(sum(r == 1 for r in rs) / n, 3),
                     "hit@4": round(sum(1 for r in rs if r and r <= 4) / n, 3),
                     "hit@10": round(sum(1 for r in rs if r) / n, 3),
                     "mrr@10": round(sum(1 / r for r in rs if r) / n, 3)}
    return out


def speed(make, docs: list[Doc], queries: list[list[str]]) -> dict:
    """Build, add one article, delete one article, query p50/p95 (ms)."""
    articles: dict[str, list[Doc]] = {}
    for d in docs:
        articles.setdefault(d.article_id, []).append(d)
    extra = [Doc(f"new-{d.pid}", "new-article", d.tokens) for d in next(iter(articles.values()))]
    engine = make()
    t = time.perf_counter()
    engine.build(docs)
    build = time.perf_counter() - t
    t = time.perf_counter()
    engine.add(extra)
    add = time.perf_counter() - t
    t = time.perf_counter()
    engine.delete("new-article")
    delete = time.perf_counter() - t
    lat = []
    for q in queries:
        t = time.perf_counter()
        engine.search(q, 40)
        lat.append(time.perf_counter() - t)
    return {"passages": len(docs), "build_s": round(build, 2), "add_one_ms": round(add * 1000, 1),
            "delete_one_ms": round(delete * 1000, 1), "query_p50_ms": round(statistics.median(lat) * 1000, 2),
            "query_p95_ms": round(float(np.percentile(lat, 95)) * 1000, 2)}


def main() -> None:
    from articleqa.settings import offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="Store holding the ingested RealTimeQA corpus.")
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    parser.add_argument("--repeat", type=int, default=25, help="Copies of the corpus for the large speed run.")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--json", type=Path, help="Write the figures here.")
    args = parser.parse_args()

    from articleqa.settings import Settings
    from qa.ask import Asker

    asker = Asker(Settings(store_path=args.store))
    questions = [json.loads(x) for x in args.questions.read_text().splitlines() if x.strip()]
    docs = load_docs(asker.store)
    big = [Doc(f"{i}-{d.pid}", f"{i}-{d.article_id}", d.tokens) for i in range(args.repeat) for d in docs]
    queries = tokenize([q["question"] for q in questions])
    result = {}
    for name in args.engines:
        engine = ENGINES[name]()
        engine.build(docs)
        result[name] = {"quality": quality(asker, engine, questions), "speed": speed(ENGINES[name], docs, queries),
                        "speed_large": speed(ENGINES[name], big, queries)}
        print(name, json.dumps(result[name]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
