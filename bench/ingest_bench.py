"""Ingest benchmark: pipeline wall time vs the bare embedding call on the same passages, and re-ingest time.

Examples:
    python bench/ingest_bench.py ../shared/data/realtimeqa-dev/corpus.jsonl --json bench/out/ingest.json
    python bench/ingest_bench.py ../shared/data/multihop-rag-dev/corpus.jsonl --store bench/out/multihop-corpus \
        --eval-collection    # keep the store, in the collection `articleqa eval --store` reuses for this corpus
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    from articleqa.settings import offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="File or folder to ingest (e.g. ../shared/data/realtimeqa-dev/corpus.jsonl).")
    parser.add_argument("--json", type=Path, help="Write the figures to this file.")
    parser.add_argument("--batch-size", type=int, default=32, help="Embedding batch size for both runs.")
    parser.add_argument("--store", type=Path, help="Ingest into this (empty) store and keep it (default: a temp dir).")
    parser.add_argument("--eval-collection", action="store_true",
                        help="Use the eval-HASH collection `articleqa eval --corpus` picks, so eval reuses the ingest.")
    args = parser.parse_args()

    from articleqa.embed import get_embedder
    from articleqa.settings import Settings
    from ingest.chunk import embedding_text
    from ingest.pipeline import Ingestor

    tmp = Path(tempfile.mkdtemp(prefix="articleqa-bench-"))
    settings = Settings(store_path=args.store or tmp / "store", collection="bench", embed_batch_size=args.batch_size)
    if args.eval_collection:
        from evaluation.runner import eval_collection_name

        settings = settings.with_overrides(collection=eval_collection_name(Path(args.corpus), settings))
    embedder = get_embedder(settings)
    t = time.perf_counter()
    embedder.encode_passages(["warm up the model"])
    load_s = time.perf_counter() - t

    ingestor = Ingestor(settings, embedder=embedder)
    t = time.perf_counter()
    first = ingestor.run([args.corpus])
    pipeline_s = time.perf_counter() - t

    # The bare model call on exactly the texts the pipeline embedded, same process, same batch size.
    texts = []
    for _, docs, metas in ingestor.store.iter_passages():
        from articleqa.store import passage_from

        texts += [embedding_text(passage_from("", d, m)) for d, m in zip(docs, metas, strict=False)]
    import torch

    torch.set_num_threads(embedder.ingest_threads)
    t = time.perf_counter()
    embedder.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    bare_s = time.perf_counter() - t

    t = time.perf_counter()
    again = Ingestor(settings, embedder=embedder).run([args.corpus])
    reingest_s = time.perf_counter() - t

    c = first.counts()
    stored = c["added"] + c["updated"]
    result = {
        "corpus": str(args.corpus),
        "cores": os.cpu_count(),
        "model_load_s": round(load_s, 2),
        "articles_in": len(first.items),
        "articles_stored": stored,
        "duplicates": c["duplicate"],
        "failed": c["failed"],
        "passages": first.passages_embedded,
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_embed_s": round(first.embed_seconds, 2),
        "bare_encode_s": round(bare_s, 2),
        "ratio_pipeline_to_bare": round(pipeline_s / bare_s, 3),
        "articles_per_s": round(len(first.items) / pipeline_s, 2),
        "passages_per_s": round(first.passages_embedded / pipeline_s, 2),
        "reingest_s": round(reingest_s, 2),
        "reingest_unchanged": again.counts()["unchanged"],
        "reingest_embedded": again.passages_embedded,
        "reingest_share_of_first": round(reingest_s / pipeline_s, 4),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
