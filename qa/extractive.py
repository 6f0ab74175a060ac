"""The no-LLM answerer: picks verbatim passage sentences that answer the question, or refuses."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from articleqa.embed import Embedder
from articleqa.models import Passage
from articleqa.settings import Settings
from articleqa.text import LRU, NLP_LOCK, nlp, split_sentences, stems, words
from qa.cite import encode_cached
from qa.kinds import ANY, CURRENCY, KIND_PATTERNS, KINDS, PERSON_NOUNS, PROPER, Kind
from qa.reader import ReadResult, SpanReader, probability
from qa.reader_features import Context, SentenceView, answer_target, answerability_features
from qa.turn import Draft

# Entity labels that answer each kind of question, as the span reader's features want them.
EXPECTED: dict[str, frozenset[str]] = {name: kind.labels for name, kind in KINDS.items()}

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span

# The score mix, penalties and margins are settings (AnswerSettings), tuned with bench/calibrate_refusal.py.

_NAME_QUESTION = re.compile(
    r"\bwhat(?:'s|\s+is|\s+was|\s+are|\s+were)?\s+(?:the\s+)?names?\s+of\s+(?P<focus>[^?]+)"
    r"|\bwhat(?:'s|\s+is|\s+was)\s+(?P<owner>[^?]+?)['’]s\s+name\b"
    r"|\bwhat\s+(?:is|was|are|were)\s+(?P<subject>[^?]+?)\s+(?:called|named)\b",
    re.IGNORECASE,
)
_DETERMINERS = {"the", "a", "an"}
# Phrases (regular expressions on the lower-cased sentence) that express a question word without sharing its stem:
# the embedding model alone does not connect "Who accompanied Kim?" with "... along with his teenage daughter".
# Keys are stems.
EXPANSIONS: dict[str, tuple[str, ...]] = {
    "meet": ("met", "talks with", "summit", "held talks"),
    "met": ("meet", "meets", "meeting", "meetings", "talks with", "summit", "held talks"),  # the stemmer keeps "met"
    "arriv": ("reached", "landed", "came to"),
    "leav": ("left", "departed", "departure"),
    "die": ("died", "killed", "dead", "death"),
    "kill": ("died", "dead", "death", "killed"),
    "win": ("won", "victory", "defeated", "beat"),
    "lose": ("lost", "defeat", "defeated by"),
    "attend": ("attended", "present at", "took part"),
    "visit": ("visited", "trip to", "travelled to", "traveled to"),
    "say": ("said", "told", "stated", "quoted"),
    "support": ("backing", "backed"),
}


@dataclass
class _Question:
    text: str
    kind: str
    stems: frozenset[str]
    words: frozenset[str]
    focus: str  # what a name question asks about ("Kim's daughter"), for the refusal reason
    head: str  # its head noun's stem ("daughter"), which a name must stand next to
    idf: dict[str, float] = field(default_factory=dict)  # of its stems over the candidate sentences (set by _score)

    @property
    def spec(self) -> Kind:
        """What this kind of question expects (qa/kinds.py)."""
        return KINDS.get(self.kind, ANY)


@dataclass
class _Candidate:
    text: str
    passage: int  # 0-based
    rank: int  # order of first appearance, for the rank prior
    stems: frozenset[str]
    index: int = 0  # the sentence's position in its passage
    lex: float = 0.0
    cos: float = 0.0
    base: float = 0.0
    score: float = 0.0  # what orders the sentences
    fit: float = 0.0  # how well it answers: compared with the refusal threshold and the margin
    type_ok: bool = True
    doc: Any = None
    lex_order: int = -1  # place in the lexical pre-score among the embedded front-runners (-1: not embedded)


class ExtractiveAnswerer:
    """Scores passage sentences against the question and answers with the best verbatim ones."""

    mode = "extractive"
    timing_key = "extract"  # the stage name in an answer's timings

    def __init__(self, settings: Settings, embedder: Embedder, reader: SpanReader | None = None):
        self.settings = settings
        self.embedder = embedder
        self.reader = reader or SpanReader()

    def run(self, question: str, passages: list[Passage]) -> Draft:
        """Answer a question from ranked passages without an LLM.

        Article text is data: sentences are only scored, never interpreted as instructions.

        Args:
            question: the user's question.
            passages: retrieved passages; their list order gives their numbers 1..n and their rank.
        Returns:
            A Draft whose sentences are verbatim passage sentences (so citations are exact), led by the one the
            direct short answer was read from (qa/reader.py), or a refusal.
        """
        threshold = self.settings.answer.refusal_threshold
        q, ranked = self.rank(question, passages)
        if not ranked:
            return Draft(refused=True, reason="No passages were found for this question.", kind=q.kind)
        ok = [c for c in ranked if c.type_ok]
        # The evidence score is that of the best sentence holding the expected kind of answer: a sentence that
        # matches the question well but lacks it ("... his teenage daughter" for a name) must not answer.
        best = ok[0] if ok else None
        evidence = round(best.fit, 4) if best else 0.0
        if best is None or evidence < threshold:
            if best is None or any(c.base >= threshold for c in ranked if not c.type_ok):
                reason = _missing_reason(q)
            else:
                reason = f"No passage answers this closely enough (evidence {evidence:.2f}, needed {threshold:.2f})."
            return Draft(score=evidence, refused=True, reason=reason, kind=q.kind)
        # The span reader reads the supporting sentences only, so the sentences shown are the ones the extractive
        # scorer chose; the one holding the span leads. (Reading all five front-runners finds a right span for more
        # questions but picks a wrong one more often: bench/README.md, fourth session.)
        views, reading, context = self.reading(q, ranked, ok, passages)
        read = self.reader.run(q.text, q.kind, q.stems, q.words, reading, _stem_one, EXPECTED, PERSON_NOUNS, context)
        w = self.reader.weights
        if w.answerable is not None:
            x = answerability_features(
                q.text, q.stems, [c.fit for c in ok[:2]], best.cos, best.lex, read.ranked[0][0] if read.ranked else 0.0,
                passages[best.passage].text, _stem_one,
            )
            p = probability(x, w.answerable)
            if p < w.answerable_threshold:
                return Draft(score=evidence, refused=True, kind=q.kind, evidence=views,
                             reason=f"The passages do not clearly answer this (answerability {p:.2f}, "
                             f"needed {w.answerable_threshold:.2f}).")
        chosen = self.supporting(ok, self.lead(ranked, read))
        return Draft(
            sentences=[(c.text, c.passage + 1) for c in chosen],
            short_answer=read.short.text if read.short else "",
            score=evidence,
            kind=q.kind,
            short=read.short,
            evidence=views,
        )

    def evidence_of(self, question: str, passages: list[Passage]) -> list[SentenceView]:
        """The evidence of a question (see `evidence`) whatever its score, for a reader that decides itself."""
        q, ranked = self.rank(question, passages)
        return self.evidence(q, ranked, passages)

    def reading(self, q: _Question, ranked: list[_Candidate], ok: list[_Candidate],
                passages: list[Passage]) -> tuple[list[SentenceView], list[SentenceView], Context]:
        """The evidence (every embedded front-runner, best first, parsed), the sentences of it the span reader reads
        (the supporting ones), and what it knows beyond them: the retrieved text of each article (answers recur
        across reports) and the noun a "which X" question asks for, with the MiniLM encoder to compare spans with it.
        """
        views = self.evidence(q, ranked, passages)
        keys = {(c.text, c.passage) for c in self.supporting(ok)}
        target = answer_target(_parse(q.text))
        context = Context.of([(p.article_id, p.title, p.text) for p in passages], target,
                             lambda texts: encode_cached(self.embedder, texts))
        return views, [v for v in views if (v.text, v.passage) in keys], context

    @staticmethod
    def lead(ranked: list[_Candidate], read: ReadResult) -> _Candidate | None:
        """The sentence the direct answer was read from (None when no span was accepted: the best one leads)."""
        if read.short is None:
            return None
        key = (read.short.sentence, read.short.passage)
        return next((c for c in ranked if (c.text, c.passage) == key), None)

    def supporting(self, ok: list[_Candidate], lead: _Candidate | None = None) -> list[_Candidate]:
        """The supporting sentences: the lead (default: the best one holding the expected kind of answer), and the
        next ones within the margin of the best (no near-duplicates), at most max_answer_sentences."""
        w = self.settings.answer
        best = ok[0]
        chosen = [lead or best]
        for c in sorted(ok, key=lambda c: -c.fit):
            if c is chosen[0]:
                continue
            if len(chosen) >= w.max_answer_sentences or c.fit < max(w.refusal_threshold, best.fit - w.margin):
                break
            if not any(_near_duplicate(c, o) for o in chosen):
                chosen.append(c)
        return chosen

    def rank(self, question: str, passages: list[Passage]) -> tuple[_Question, list[_Candidate]]:
        """The analysed question and every distinct passage sentence, scored, best first."""
        q = analyse_question(question)
        cands = _candidates(passages)
        if cands:
            self._score(q, cands)
        return q, sorted(cands, key=lambda c: -c.score)

    def evidence(self, q: _Question, ranked: list[_Candidate], passages: list[Passage]) -> list[SentenceView]:
        """The embedded front-runners, best first, parsed: what the span reader reads the short answer from."""
        front = [c for c in ranked if c.doc is not None]
        return [
            SentenceView(c.text, c.passage, _parse(c.text), c.fit, c.cos, c.lex, r, passages[c.passage].title)
            for r, c in enumerate(front)
        ]

    def _score(self, q: _Question, cands: list[_Candidate]) -> None:
        """Fill lex, cos, base, type_ok and score of the candidates (dense only for the lexical front-runners)."""
        n = len(cands)
        df: dict[str, int] = {}
        for c in cands:
            for s in c.stems:
                df[s] = df.get(s, 0) + 1
        idf = q.idf = {s: math.log(1 + n / df.get(s, 0.5)) for s in q.stems}
        total = sum(idf.values())
        for c in cands:
            matched = q.stems & c.stems
            low = c.text.lower()
            matched |= {s for s in q.stems - matched if any(re.search(rf"\b{p}\b", low) for p in EXPANSIONS.get(s, ()))}
            c.lex = sum(idf[s] for s in matched) / total if total else 0.0
        w = self.settings.answer
        front = sorted(cands, key=lambda c: -(c.lex + 0.05 * _rank_prior(c.rank)))[: w.dense_candidates]
        vecs = encode_cached(self.embedder, [q.text] + [c.text for c in front])
        docs = _ner([c.text for c in front])
        for j, c in enumerate(front):
            c.cos = float(vecs[0] @ vecs[j + 1])
            c.doc = docs[j]
            c.lex_order = j
        for c in cands:
            dense = min(1.0, max(0.0, (c.cos - 0.1) / 0.6))
            c.base = w.dense_weight * dense + w.lexical_weight * c.lex + w.rank_weight * _rank_prior(c.rank)
            c.type_ok = _has_answer_type(q, c) if q.kind else True
            c.score = c.fit = c.base if c.type_ok else c.base * w.type_penalty
            if q.spec.person_nouns and c.type_ok and not _new_entities(q, c.doc, q.spec.labels):
                # A new name answers "who" better than "the leaders" does, so it leads the answer; the evidence and
                # the other sentences are still judged by `fit`.
                c.score *= w.person_noun_only


def analyse_question(question: str) -> _Question:
    """The expected answer kind and the words of a question."""
    q = question.strip()
    name = _NAME_QUESTION.search(q)
    focus = head = ""
    if name:
        kind = "name"
        focus = (name.group("focus") or name.group("owner") or name.group("subject") or "").strip(" ,.")
        nouns = [w for w in words(focus) if w not in _DETERMINERS and not w.endswith("'s")]
        head = stems(nouns[-1])[0] if nouns and stems(nouns[-1]) else ""
    else:
        asked = _asking_sentence(q)
        hits = [(m.start(), k) for p, k in KIND_PATTERNS for m in [re.search(p, asked, re.IGNORECASE)] if m]
        kind = min(hits)[1] if hits else ""
    qstems = set(stems(q)) - ({"name", "call"} if name else set())  # "name"/"called" are the question's words
    return _Question(q, kind, frozenset(qstems), frozenset(words(q)), focus, head)


def _asking_sentence(question: str) -> str:
    """The sentence that asks, for the expected kind: the last one of a question with a lead-in ("Police arrested 31
    men who planned a riot. Where was the event?"; 30 of the 346 dev questions have one, and for 2 the lead-in's
    "who" had set the kind)."""
    sentences = [s.text for s in split_sentences(question)]
    return sentences[-1] if len(sentences) > 1 else question


def _candidates(passages: list[Passage]) -> list[_Candidate]:
    """Every distinct passage sentence once (passages overlap by a sentence: keep the higher-ranked copy)."""
    seen: set[str] = set()
    out: list[_Candidate] = []
    for i, p in enumerate(passages):
        for j, span in enumerate(split_sentences(p.text)):
            key = " ".join(words(span.text))
            if not key or key in seen:
                continue
            seen.add(key)
            out.append(_Candidate(span.text, i, i, frozenset(stems(span.text)), j))
    return out


def _rank_prior(rank: int) -> float:
    return 1.0 / (1.0 + 0.5 * rank)


def _is_new(ent_text: str, q: _Question) -> bool:
    """An entity not already named in the question (the answer to "Who met Kim?" is not Kim)."""
    ws = [w for w in words(ent_text) if w not in _DETERMINERS]
    return bool(ws) and any(w not in q.words for w in ws)


def _new_entities(q: _Question, doc: Doc, labels: frozenset[str] | tuple[str, ...]) -> list[Span]:
    return [e for e in doc.ents if e.label_ in labels and _is_new(e.text, q)]


def _person_nouns(q: _Question, doc: Doc) -> list[int]:
    """Token indices of person nouns ("sister", "officials") not in the question."""
    return [
        t.i for t in doc
        if t.tag_.startswith("NN")
        and t.lower_ in PERSON_NOUNS
        and t.lower_ not in q.words
        and not _title_of_known(q, doc, t.i)
    ]


def _title_of_known(q: _Question, doc: Doc, i: int) -> bool:
    """Whether the noun is the title of someone the question names: "President" in "President Xi Jinping"."""
    nxt = doc[i + 1] if i + 1 < len(doc) else None
    return nxt is not None and nxt.ent_type_ == "PERSON" and nxt.lower_ in q.words


def _has_answer_type(q: _Question, c: _Candidate) -> bool:
    """Whether a sentence holds the kind of thing the question asks for."""
    if c.doc is None:  # not among the embedded front-runners: its score is low anyway
        return False
    doc = c.doc
    if q.kind == "name":
        ents = _new_entities(q, doc, PROPER)
        if not q.head:
            return bool(ents)
        heads = [t.i for t in doc if stems(t.text) == [q.head]]
        person = q.head in {_stem_one(w) for w in PERSON_NOUNS}
        # The name must stand next to the thing asked about: "his daughter, Kim Ju Ae" / "Ju Ae, his daughter".
        return any(
            (not person or e.label_ == "PERSON") and min(abs(h - e.start), abs(h - (e.end - 1))) <= 3
            for h in heads
            for e in ents
        )
    spec = q.spec
    if _new_entities(q, doc, spec.labels):
        return True
    if spec.person_nouns:
        return bool(_person_nouns(q, doc))
    if spec.currency_fallback:
        return any(
            t.like_num and any(doc[j].lower_ in CURRENCY for j in range(max(0, t.i - 1), min(len(doc), t.i + 3)))
            for t in doc
        )
    if spec.number_fallback:
        return any(t.like_num and t.text.lower() not in q.words for t in doc)
    return False


def _missing_reason(q: _Question) -> str:
    """Plain-English refusal for a question whose kind of answer no good sentence holds."""
    if q.focus:  # a name question: name what it asked about
        return f"No passage names {q.focus}."
    return f"No passage says {q.spec.missing}."


def _near_duplicate(a: _Candidate, b: _Candidate) -> bool:
    union = a.stems | b.stems
    return bool(union) and len(a.stems & b.stems) / len(union) > 0.6


# --- spaCy: loaded lazily once per process; docs cached by sentence text ---------------------------------------

_DOCS: LRU[str, Any] = LRU(4096)
_PARSED: LRU[str, Any] = LRU(1024)


def _ner(texts: list[str]) -> list[Doc]:
    """Tagged, NER'd docs (no parser: 5 ms a sentence) from the cache when possible."""

    def run(missing: list[str]) -> list[Doc]:
        with NLP_LOCK:
            return list(nlp().pipe(missing, disable=["parser", "lemmatizer"]))

    return _DOCS.get_many(texts, run)


def _parse(text: str) -> Doc:
    """A fully parsed doc (noun chunks need the parser); used for one sentence per question, cached by text
    (the docs are only read)."""

    def run(t: str) -> Doc:
        with NLP_LOCK:
            return nlp()(t)

    return _PARSED.get(text, run)


@lru_cache(maxsize=256)
def _stem_one(word: str) -> str:
    s = stems(word)
    return s[0] if s else word
