"""Citation checking: every answer sentence is tied to the passage sentence that supports it, or removed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from articleqa.embed import Embedder
from articleqa.models import Citation, Passage
from articleqa.settings import AnswerSettings
from articleqa.text import (
    LRU,
    MARKER_GROUP,
    MARKERS_AFTER_END,
    Span,
    content_words,
    marker_numbers,
    split_sentences,
    stems,
)
from qa.dates import format_day

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"[A-Za-z][\w'’-]*")
# Sentences about the sources rather than about the world need no citation ("The articles do not name her.").
_META_NEGATION = re.compile(
    r"\b(?:articles?|passages?|sources?|context|texts?|reports?|documents?)\b.*\b(?:not|never|no|n['’]t)\b"
    r".*\b(?:say|says|state|states|mention|mentions|name|names|specify|provide|give|contain|include|report|identify)",
    re.IGNORECASE,
)
_META_WORDS = frozenset(
    "article articles passage passages source sources report reports based following here found information summary "
    "summarize answer question context provided text texts document documents available given below above overall "
    "short brief happened happen happens learn learned note noted following".split()
)


@dataclass
class CheckedAnswer:
    """An answer whose every remaining sentence carries checked citations numbered 1..m in order of first use."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


@dataclass
class _Sentence:
    """One passage sentence: `span` offsets are in the article's text."""

    passage: int  # 0-based index into the passages list
    span: Span
    stems: frozenset[str]
    norm: str


@dataclass
class _Claim:
    """One answer sentence with its citation markers removed."""

    text: str
    markers: list[int]
    newline_before: bool


class CitationChecker:
    """Checks and repairs the [n] citations of any answer text against the passages it was written from."""

    def __init__(self, embedder: Embedder, settings: AnswerSettings | None = None):
        settings = settings or AnswerSettings()
        self.embedder = embedder
        self.threshold = settings.support_threshold  # measured on the seed article (see AnswerSettings)
        self.pair_recall = settings.pair_recall

    def run(self, answer_text: str, passages: list[Passage]) -> CheckedAnswer:
        """Check every sentence of an answer against the passages (numbered 1..n in list order).

        Args:
            answer_text: answer with [n] markers, from the extractive answerer or an LLM.
            passages: the passages the answer was written from, in the order their numbers refer to.
        Returns:
            The answer with unsupported sentences removed, out-of-range or unsupporting citations dropped,
            missing citations added, and markers renumbered 1..m by first use; `citations` in that order.
        """
        claims = parse_claims(answer_text)
        sentences = _passage_sentences(passages)
        numbers: dict[tuple[str, int, int], int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        unsupported: list[str] = []
        for claim in claims:
            if not re.search(r"\w", claim.text):
                continue
            support = self._supporting(claim, sentences, passages)
            if not support:
                if is_connective(claim.text):
                    parts.append(("\n" if claim.newline_before and parts else "") + claim.text)
                else:
                    unsupported.append(claim.text)
                continue
            marks: list[int] = []
            quoted: list[tuple[str, int]] = []
            for sent, score in support:
                p = passages[sent.passage]
                key = (p.article_id or p.id, sent.span.start, sent.span.end)
                if key not in numbers:
                    numbers[key] = len(citations) + 1
                    span = sent.span
                    citations.append(passage_citation(numbers[key], p, span.text, span.start, span.end, score))
                if numbers[key] not in marks:
                    marks.append(numbers[key])
                    quoted.append((sent.span.text, numbers[key]))
            parts.append(("\n" if claim.newline_before and parts else "") + _shown(claim.text, quoted, sentences))
        text = re.sub(r" ?\n ?", "\n", " ".join(parts)).strip()
        return CheckedAnswer(text=text, citations=citations, unsupported=unsupported)

    def _supporting(
        self, claim: _Claim, sentences: list[_Sentence], passages: list[Passage]
    ) -> list[tuple[_Sentence, float]]:
        """The passage sentences to cite for one claim: cited ones that support it, else the best supporter."""
        if not sentences:
            return []
        cited = [n - 1 for n in dict.fromkeys(claim.markers) if 1 <= n <= len(passages)]
        exact = _contained(claim.text, sentences)
        if exact:
            # Prefer the copy of the quote in a passage the writer cited (passages overlap by a sentence).
            in_cited = [s for s in exact if s.passage in cited]
            chosen = in_cited or [s for s in exact if s.passage == exact[0].passage]
            return [(s, 1.0) for s in chosen]
        scores = self._scores(claim.text, sentences, cited)
        if not scores:
            return []
        keep: list[tuple[_Sentence, float]] = []
        for p in cited:
            mine = [(i, v[0]) for i, v in scores.items() if sentences[i].passage == p]
            best = max(mine, key=lambda x: x[1], default=None)
            if best and best[1] >= self.threshold:
                keep.append((sentences[best[0]], best[1]))
        if keep:
            return keep
        best_i, best_v = max(((i, v[0]) for i, v in scores.items()), key=lambda x: x[1])
        if best_v >= self.threshold:
            return [(sentences[best_i], best_v)]
        return self._pair(claim.text, sentences, scores)

    def _scores(self, text: str, sentences: list[_Sentence], cited: list[int]) -> dict[int, tuple[float, float]]:
        """(support, cosine) of `text` against the most promising passage sentences (lexical pre-filter, then dense)."""
        claim_stems = frozenset(stems(text))
        if not claim_stems:
            return {}
        recall = [len(claim_stems & s.stems) / len(claim_stems) for s in sentences]
        order = sorted(range(len(sentences)), key=lambda i: -recall[i])
        pick = list(dict.fromkeys(order[:8] + [i for i in order if sentences[i].passage in cited][:12]))
        vecs = encode_cached(self.embedder, [text] + [sentences[i].span.text for i in pick])
        out: dict[int, tuple[float, float]] = {}
        for j, i in enumerate(pick):
            cos = float(vecs[0] @ vecs[j + 1])
            out[i] = (_support(recall[i], cos, text, sentences[i].span.text), cos)
        return out

    def _pair(
        self, text: str, sentences: list[_Sentence], scores: dict[int, tuple[float, float]]
    ) -> list[tuple[_Sentence, float]]:
        """Two sentences that together support a claim merging two facts ("arrived Tuesday with his sister")."""
        claim_stems = frozenset(stems(text))
        top = sorted(scores, key=lambda i: -scores[i][0])[:5]
        best: tuple[float, int, int] | None = None
        for a in top:
            for b in top:
                if b <= a:
                    continue
                sa, sb = claim_stems & sentences[a].stems, claim_stems & sentences[b].stems
                if sa <= sb or sb <= sa:  # each must bring something the other lacks
                    continue
                recall = len(sa | sb) / len(claim_stems)
                if recall < self.pair_recall:
                    continue
                joined = sentences[a].span.text + " " + sentences[b].span.text
                v = _support(recall, max(scores[a][1], scores[b][1]), text, joined)
                if v >= self.threshold and (best is None or v > best[0]):
                    best = (v, a, b)
        if best is None:
            return []
        return [(sentences[best[1]], best[0]), (sentences[best[2]], best[0])]


def _support(recall: float, cos: float, claim: str, source: str) -> float:
    """Support 0-1: content-word recall of the claim in the source and dense similarity; numbers and names
    of the claim must appear in the source (fabricated figures and people are the commonest inventions)."""
    dense = min(1.0, max(0.0, (cos - 0.35) / 0.45))
    value = 0.6 * recall + 0.4 * dense
    numbers = set(_NUMBER.findall(claim))
    if numbers and not numbers <= set(_NUMBER.findall(source)):
        value *= 0.6
    source_words = {w.lower() for w in _NAME.findall(source)}
    if any(n.lower() not in source_words for n in _names(claim)):
        value *= 0.6
    return round(value, 4)


def _names(text: str) -> list[str]:
    """Capitalised words that are not sentence-initial: the names a claim mentions."""
    return [m.group(0) for m in _NAME.finditer(text) if m.start() > 0 and m.group(0)[0].isupper()
            and not re.search(r"[.!?:\"“]\s*$", text[: m.start()])]


def parse_claims(answer_text: str) -> list[_Claim]:
    """Split an answer into sentences and pull out their [n] markers (markers after a full stop included)."""
    text = MARKERS_AFTER_END.sub(lambda m: " " + m.group(2).strip() + m.group(1), answer_text)
    claims: list[_Claim] = []
    prev_end = 0
    for span in split_sentences(text):
        markers = [n for g in MARKER_GROUP.finditer(span.text) for n in marker_numbers(g.group(1))]
        clean = MARKER_GROUP.sub(" ", span.text)
        clean = re.sub(r"[ \t]+", " ", clean)
        clean = re.sub(r" +([.,;:!?])", r"\1", clean).strip()
        newline = "\n" in text[prev_end : span.start]
        prev_end = span.end
        if not re.search(r"\w", clean) and claims:  # a line of bare markers belongs to the sentence before
            claims[-1].markers.extend(markers)
            continue
        claims.append(_Claim(clean, markers, newline))
    return claims


def is_connective(text: str) -> bool:
    """True for sentences about the sources rather than the world ("According to the articles:"), kept uncited."""
    if _META_NEGATION.search(text):
        return True
    rest = [w for w in content_words(text) if w not in _META_WORDS]
    return not rest


def _shown(claim: str, quoted: list[tuple[str, int]], sentences: list[_Sentence]) -> str:
    """What is shown for a claim: what is shown is what is cited.

    A quoted claim (found verbatim in a passage) that runs over several passage sentences, a heading glued to the
    sentence after it for instance, is shown as those sentences, each followed by its own marker: every segment
    before an [n] then lies inside citation n's sentence. A paraphrase (an LLM's) is held to the support threshold.
    """
    marks = [n for _, n in quoted]
    texts = [text for text, _ in quoted]
    if len(quoted) == 1 and inside(claim, texts):
        return _with_markers(claim, marks)
    # Quoted verbatim, or holding its quotes plus something else (a heading): show exactly the cited sentences.
    if _contained(claim, sentences) or any(inside(text, [claim]) for text in texts):
        return " ".join(_with_markers(text, [n]) for text, n in quoted)
    return _with_markers(claim, marks)


def inside(segment: str, quotes: list[str]) -> bool:
    """Whether an answer segment lies inside the quoted sentences (punctuation, case and spacing aside)."""
    seg = _norm(segment)
    return bool(seg) and seg in _norm(" ".join(quotes))


# " (4 September 2025)" after a relative day word: the checker's own annotation, not part of any quote.
_DATE_NOTE = re.compile(r" \(\d{1,2} [A-Z][a-z]+ \d{4}\)")


def segments_outside(answer: str, quotes: dict[int, str]) -> list[str]:
    """The answer segments (text before each [n] group) that do not lie inside their citations' sentences.

    Args:
        answer: a checked answer with [n] markers (the trailing "(Published: ...)" line is ignored).
        quotes: citation number -> quoted sentence.
    Returns:
        The offending segments ([] when what is shown is what is cited).
    """
    body = answer.split("\n(Published:")[0]
    out, pos = [], 0
    for m in re.finditer(r"(?:\[\d+\])+", body):
        # A segment never reaches back over a line break: a line with no marker (the multi-article verdict, which
        # code computed from all the cited sentences) is attributed to no single citation.
        start = max(pos, body.rfind("\n", pos, m.start()) + 1)
        segment = _DATE_NOTE.sub("", body[start : m.start()]).strip()
        pos = m.end()
        numbers = [int(n) for n in re.findall(r"\d+", m.group())]
        if re.search(r"\w", segment) and not inside(segment, [quotes.get(n, "") for n in numbers]):
            out.append(segment)
    return out


def _with_markers(text: str, marks: list[int]) -> str:
    tag = "".join(f"[{n}]" for n in marks)
    m = re.search(r"[.!?]+$", text)
    # "... on Tuesday [1]." but '... evolves." [1]' (never split a closing quote from its full stop).
    if m and not re.search(r"[\"'”’)]$", text[: m.start()]):
        return f"{text[: m.start()]} {tag}{m.group(0)}"
    return f"{text} {tag}"


def _passage_sentences(passages: list[Passage]) -> list[_Sentence]:
    out = []
    for i, p in enumerate(passages):
        for span in split_sentences(p.text, offset=p.start):
            out.append(_Sentence(i, span, frozenset(stems(span.text)), _norm(span.text)))
    return out


def _contained(text: str, sentences: list[_Sentence]) -> list[_Sentence]:
    """Passage sentences an answer sentence quotes (near-)verbatim, possibly across sentence boundaries."""
    claim = _norm(text)
    if len(claim) < 12:
        return []
    by_passage: dict[int, list[_Sentence]] = {}
    for s in sentences:
        by_passage.setdefault(s.passage, []).append(s)
    found: list[_Sentence] = []
    for group in by_passage.values():
        joined, bounds, pos = "", [], 0
        for s in group:
            bounds.append((pos, pos + len(s.norm)))
            joined += s.norm + " "
            pos = len(joined)
        at = joined.find(claim)
        if at >= 0:
            found += [s for s, (a, b) in zip(group, bounds, strict=True) if a < at + len(claim) and b > at]
    return found


def passage_citation(
    number: int, p: Passage, quote: str, start: int, end: int, support: float, record_field: str = ""
) -> Citation:
    """Citation [number] of `quote` (offsets into the article) in passage `p`, carrying the passage's article data."""
    return Citation(
        number=number,
        passage_id=p.id,
        article_id=p.article_id,
        quote=quote,
        start=start,
        end=end,
        passage_text=p.text,
        passage_start=p.start,
        support=round(float(support), 4),
        record_field=record_field,
        **p.meta_fields(),
    )


def _norm(text: str) -> str:
    t = text.lower().replace("’", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", t)).strip()


def format_date(iso: str) -> str:
    """An ISO date as news prose writes it.

    Args:
        iso: "2025-09-05" (a time part is ignored).
    Returns:
        "5 September 2025", or the input unchanged when it is not a date.
    """
    try:
        return format_day(date.fromisoformat((iso or "")[:10]))
    except ValueError:
        return iso


# --- the sentence-vector cache (also used by qa.extractive and qa.retrieve) ------------------------------------------

# Sentence vectors keyed by (model, text): passages recur across questions and between answerer and checker, and
# embedding is the slowest step of both.
_VECTORS: LRU[tuple[str, str], np.ndarray] = LRU(8192)


def encode_cached(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Normalised vectors for short texts, from the process-wide LRU cache when possible."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    model = embedder.model_name
    vecs = _VECTORS.get_many([(model, t) for t in texts],
                             lambda keys: list(embedder.encode_sentences([t for _, t in keys])))
    return np.stack(vecs)
