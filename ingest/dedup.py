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
    """Holds the signatures of stored articles and finds the one a new article duplicates.

    Candidates come from a MinHash LSH index (datasketch), so a lookup does not scan every stored article; each
    candidate's similarity is then computed exactly from the signatures and compared with the threshold.
    """

    def __init__(self, threshold: float):
        from datasketch import MinHashLSH

        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=_lsh_threshold(threshold), num_perm=NUM_PERM, weights=_LSH_WEIGHTS)
        self._sigs: dict[str, np.ndarray] = {}
        self._by_hash: dict[str, str] = {}
        self._hash_of: dict[str, str] = {}  # the reverse map: removing one article must not scan them all

    def add(self, article_id: str, sig: np.ndarray, text_hash: str = "") -> None:
        if article_id in self._sigs:
            self._lsh.remove(article_id)
        self._sigs[article_id] = sig
        self._lsh.insert(article_id, _lean(sig))
        if text_hash:
            self._forget_hash(article_id)
            self._by_hash[text_hash] = article_id
            self._hash_of[article_id] = text_hash

    def remove(self, article_id: str) -> None:
        if self._sigs.pop(article_id, None) is not None:
            self._lsh.remove(article_id)
        self._forget_hash(article_id)

    def _forget_hash(self, article_id: str) -> None:
        old = self._hash_of.pop(article_id, None)
        if old is not None and self._by_hash.get(old) == article_id:
            del self._by_hash[old]

    def find(self, article_id: str, sig: np.ndarray, text_hash: str = "") -> tuple[str, float] | None:
        """The stored article (other than `article_id` itself) this one duplicates, with the similarity."""
        exact = self.same_text(article_id, text_hash)
        if exact is not None:
            return exact, 1.0
        return best_match(self.similarities(article_id, sig), self.threshold)

    def same_text(self, article_id: str, text_hash: str) -> str | None:
        """The article (other than `article_id`) with exactly this normalised text, if any."""
        if text_hash and self._by_hash.get(text_hash, article_id) != article_id:
            return self._by_hash[text_hash]
        return None

    def similarities(self, article_id: str, sig: np.ndarray) -> dict[str, float]:
        """Estimated Jaccard similarity to every LSH candidate other than `article_id`."""
        if not self._sigs:
            return {}
        return {c: similarity(self._sigs[c], sig) for c in self._lsh.query(_lean(sig)) if c != article_id}

    def __contains__(self, article_id: str) -> bool:
        return article_id in self._sigs or article_id in self._hash_of


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal MinHash values."""
    return float((a == b).mean())


def best_match(sims: dict[str, float], threshold: float) -> tuple[str, float] | None:
    """The most similar candidate (ties: the larger id, deterministic) when it reaches `threshold`."""
    best = max(sims, key=lambda c: (sims[c], c), default=None)
    return (best, sims[best]) if best is not None and sims[best] >= threshold else None


def lsh_bands(threshold: float) -> tuple[int, int]:
    """(bands, rows per band) of the LSH that `DuplicateFinder` uses at this duplicate `threshold`."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=_lsh_threshold(threshold), num_perm=NUM_PERM, weights=_LSH_WEIGHTS)
    return lsh.b, lsh.r


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    """One signed 64-bit key per LSH band: two signatures are candidates when any key is equal (as in datasketch,
    whose keys are the bands' bytes; a 64-bit hash of them collides with negligible probability, and every candidate
    is checked exactly anyway)."""
    raw = sig.astype("<u4").tobytes()
    return [
        int.from_bytes(hashlib.blake2b(bytes([b]) + raw[b * rows * 4 : (b + 1) * rows * 4], digest_size=8).digest(),
                       "little", signed=True)
        for b in range(bands)
    ]


def _lsh_threshold(threshold: float) -> float:
    # A lower LSH threshold, weighted against misses: at the 0.8 default a pair at 0.8 is a candidate with
    # probability 0.9998 (16 bands of 4); the extra candidates cost one exact comparison each.
    return max(0.3, threshold - 0.2)


_LSH_WEIGHTS = (0.1, 0.9)


def _lean(sig: np.ndarray):  # noqa: ANN202 - datasketch has no type hints
    from datasketch import LeanMinHash

    # Our own signatures (stored in existing article records), not datasketch's: the scheme only labels them, and
    # every signature in one index comes from `signature`, so they are comparable.
    return LeanMinHash(seed=1, hashvalues=sig.astype(np.uint64), scheme="legacy")
