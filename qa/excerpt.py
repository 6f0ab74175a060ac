"""Excerpts: the clauses of a long supporting sentence that hold the answer span or the question's words."""

from __future__ import annotations

import re
from dataclasses import dataclass

from articleqa.text import stems

ELLIPSIS = "…"
# Where a news sentence breaks into clauses: after , ; : and before a dash or an opening parenthesis.
_BREAK = re.compile(r"(?<=[,;:])\s+|\s+(?=[—–]\s)|\s+(?=\()")


@dataclass(frozen=True)
class Excerpt:
    """A verbatim stretch sentence[start:end] of a sentence; `text` adds an ellipsis where it was cut."""

    sentence: str
    start: int
    end: int

    @property
    def text(self) -> str:
        """The stretch, with "…" where the sentence goes on (so the answer never passes a fragment off as whole)."""
        core = self.sentence[self.start : self.end]
        cut_end = self.end < len(self.sentence.rstrip())
        return (ELLIPSIS if self.start > 0 else "") + core.rstrip(",;:") + (ELLIPSIS if cut_end else "")


def clauses(sentence: str) -> list[tuple[int, int]]:
    """Character offsets of the sentence's clauses, in order (the whole sentence when it has no break)."""
    out, pos = [], 0
    for m in _BREAK.finditer(sentence):
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(sentence):
        out.append((pos, len(sentence)))
    return out


def excerpt(sentence: str, question: str, max_words: int, keep: tuple[int, int] | None = None) -> Excerpt:
    """The clauses of a sentence worth showing: the one holding `keep` (the answer span) or, without one, the one
    sharing most words with the question, grown clause by clause towards the question's words while the excerpt
    stays within max_words. A sentence of at most max_words words (or max_words 0) is kept whole.

    Args:
        sentence: the verbatim sentence.
        question: the question, whose word stems pull neighbouring clauses in.
        max_words: the most words an excerpt may have (a clause longer than that is still kept whole).
        keep: character offsets in the sentence that must stay inside the excerpt.
    Returns:
        The Excerpt (start/end are offsets in `sentence`).
    """
    whole = Excerpt(sentence, 0, len(sentence))
    parts = clauses(sentence)
    if max_words <= 0 or len(sentence.split()) <= max_words or len(parts) < 2:
        return whole
    wanted = frozenset(stems(question))
    overlap = [len(wanted & frozenset(stems(sentence[a:b]))) for a, b in parts]
    size = [len(sentence[a:b].split()) for a, b in parts]
    if keep is not None:
        hit = [i for i, (a, b) in enumerate(parts) if a < keep[1] and keep[0] < b]
        if not hit:
            return whole
        lo, hi = hit[0], hit[-1]
    else:
        lo = hi = max(range(len(parts)), key=lambda i: (overlap[i], -i))
    while True:
        used = sum(size[lo : hi + 1])
        options = [(overlap[i], -abs(i - lo), i) for i in (lo - 1, hi + 1)
                   if 0 <= i < len(parts) and used + size[i] <= max_words]
        if not options:
            break
        i = max(options)[2]
        lo, hi = min(lo, i), max(hi, i)
    return Excerpt(sentence, parts[lo][0], parts[hi][1])
