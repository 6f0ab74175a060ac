"""Near-duplicate detection for syndicated stories: MinHash signatures of word shingles."""

from __future__ import annotations

import hashlib

import numpy as np

from articleqa.text import words

NUM_PERM = 64
_PRIME = (1 << 61) - 1
_rng = np.random.default_rng(20250904)  # fixed seed: signatures must be comparable across runs and processes
_A = _rng.integers(1, _PRIME, NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, _PRIME, NUM_PERM, dtype=np.uint64)


def signature(text: str, shingle: int = 5) -> np.ndarray:
    """MinHash signature (NUM_PERM uint32s) of the text's word `shingle`-grams."""
    toks = words(text)
    grams = {" ".join(toks[i : i + shingle]) for i in range(max(1, len(toks) - shingle + 1))}
    hashes = np.array(
        [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") for g in grams], dtype=np.uint64
    )
    # (a*x + b) mod p, then keep 32 bits; uint64 arithmetic wraps, which is fine for hashing purposes.
    perm = (hashes[None, :] * _A[:, None] + _B[:, None]) % np.uint64(_PRIME)
    return (perm.min(axis=1) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def encode(sig: np.ndarray) -> str:
    """Compact string form for Chroma metadata."""
    return sig.astype("<u4").tobytes().hex()


def decode(text: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(text), dtype="<u4").astype(np.uint32)


class DuplicateFinder:
    """Holds the signatures of stored articles and finds the one a new article duplicates."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._ids: list[str] = []
        self._sigs: list[np.ndarray] = []
        self._by_hash: dict[str, str] = {}

    def add(self, article_id: str, sig: np.ndarray, text_hash: str = "") -> None:
        self._ids.append(article_id)
        self._sigs.append(sig)
        if text_hash:
            self._by_hash[text_hash] = article_id

    def remove(self, article_id: str) -> None:
        keep = [i for i, a in enumerate(self._ids) if a != article_id]
        self._ids = [self._ids[i] for i in keep]
        self._sigs = [self._sigs[i] for i in keep]
        self._by_hash = {h: a for h, a in self._by_hash.items() if a != article_id}

    def find(self, article_id: str, sig: np.ndarray, text_hash: str = "") -> tuple[str, float] | None:
        """The stored article (other than `article_id` itself) this one duplicates, with the similarity."""
        if text_hash and self._by_hash.get(text_hash, article_id) != article_id:
            return self._by_hash[text_hash], 1.0
        if not self._sigs:
            return None
        sims = (np.stack(self._sigs) == sig[None, :]).mean(axis=1)
        for idx in np.argsort(-sims):
            if sims[idx] < self.threshold:
                return None
            if self._ids[idx] != article_id:
                return self._ids[idx], float(sims[idx])
        return None
