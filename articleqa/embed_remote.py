"""Embeddings from an OpenAI-compatible /v1/embeddings server: batched, concurrent, retried, one-line errors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from articleqa.errors import EmbeddingError
from articleqa.settings import EmbeddingSettings

HINT = "start it (articleqa embed-server --port 8081) or fix/unset ARTICLEQA_EMBEDDING_URL"


class RemoteEmbedder:
    """The Embedder interface (encode_passages / encode_query / encode_sentences) over an embeddings server.

    Requests go through the `openai` client, which retries connection errors, timeouts, 429 and 5xx answers with
    exponential backoff (`retries` times). Vectors are L2-normalised here, as the in-process model's are, because
    the answerer compares them by dot product and not every server normalises.
    """

    def __init__(self, settings: EmbeddingSettings):
        assert settings.url, "RemoteEmbedder needs embedding.url"
        self.url = settings.url.rstrip("/")
        self.model_name = settings.served_name()
        self.batch_size = max(1, settings.batch_size)
        self.concurrency = max(1, settings.concurrency)
        self._settings = settings
        self._client: Any = None
        self._dimension = 0
        self._lock = threading.Lock()

    def _api(self) -> Any:
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                self._client = OpenAI(base_url=self.url, api_key=self._settings.api_key or "local",
                                      max_retries=self._settings.retries, timeout=self._settings.timeout)
            return self._client

    @property
    def dimension(self) -> int:
        """Length of the server's vectors (one probe request the first time it is needed)."""
        if not self._dimension:
            self._request(["dimension probe"])
        return self._dimension

    def _request(self, texts: list[str]) -> np.ndarray:
        """One embeddings call: vectors in input order, normalised, or EmbeddingError with one line."""
        import openai

        try:
            got = self._api().embeddings.create(model=self.model_name, input=texts, encoding_format="float")
        except openai.APIConnectionError as exc:  # includes timeouts, after every retry
            raise EmbeddingError(
                f"embedding server {self.url} is not reachable ({type(exc).__name__} after "
                f"{self._settings.retries} retries); {HINT}"
            ) from exc
        except openai.APIStatusError as exc:
            detail = " ".join(str(exc.message).split())[:200]
            raise EmbeddingError(
                f"embedding server {self.url} answered {exc.status_code} for model {self.model_name!r}: {detail}; "
                f"check ARTICLEQA_EMBEDDING_MODEL_NAME and ARTICLEQA_EMBEDDING_API_KEY"
            ) from exc
        rows = sorted(got.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise EmbeddingError(f"embedding server {self.url} returned {len(rows)} vectors for {len(texts)} texts")
        vecs = np.asarray([r.embedding for r in rows], dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] == 0:
            raise EmbeddingError(f"embedding server {self.url} returned vectors of uneven or zero length")
        if self._dimension and vecs.shape[1] != self._dimension:
            raise EmbeddingError(
                f"embedding server {self.url} returned {vecs.shape[1]}-dimensional vectors after "
                f"{self._dimension}-dimensional ones for model {self.model_name!r}"
            )
        self._dimension = vecs.shape[1]
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms == 0, 1.0, norms)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """Embed many texts: `batch_size` per request, up to `concurrency` requests at once, in input order."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if len(batches) == 1:
            return self._request(batches[0])
        with ThreadPoolExecutor(min(self.concurrency, len(batches)), thread_name_prefix="embed-request") as pool:
            parts = list(pool.map(self._request, batches))
        return np.concatenate(parts)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question (1-d vector)."""
        return self._request([text])[0]

    def encode_sentences(self, texts: list[str]) -> np.ndarray:
        """Embed a handful of short texts at query time (one request)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.encode_passages(texts)
