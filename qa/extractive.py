"""The no-LLM answerer: picks verbatim passage sentences that answer the question, or refuses."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from articleqa.embed import Embedder
from articleqa.models import Passage
from articleqa.settings import Settings
from articleqa.text import LRU, NLP_LOCK, nlp, split_sentences, stems, words
from qa.cite import encode_cached
from qa.dates import WEEKDAYS, format_day, weekday_date
from qa.kinds import ANY, CURRENCY, KIND_PATTERNS, KINDS, PERSON_NOUNS, PROPER, Kind
from qa.turn import Draft

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
# "Who is the (new) director of ...", "Who was named coach at ...": the role a name must stand next to.
_NOT_ROLES = frozenset("the a an known responsible famous able first last best only one most".split())
_ROLE_QUESTION = re.compile(
    r"\bwho\s+(?:is|was|are|were|will\s+be|became|has\s+been)\s+(?:named\s+|appointed\s+)?(?:the\s+|a\s+|an\s+)?"
    r"(?:new\s+|current\s+|former\s+|acting\s+|interim\s+)?(?P<role>[a-z]+)\s+(?:of|at|for|in|to)\b",
    re.IGNORECASE,
)
FIRST_IN_YEARS = r"first\b[^.;]*?\bin (?:\w+ ){0,2}(?:years|months|weeks|decades)"
DURATION_UNIT = re.compile(r"\b(?:years?|months?|weeks?|days?|hours?|minutes?|decades?|centur(?:y|ies))\b", re.I)
# Phrases (regular expressions on the lower-cased sentence) that express a question word without sharing its stem:
# the embedding model alone does not connect "Who accompanied Kim?" with "... along with his teenage daughter".
# Keys are stems.
EXPANSIONS: dict[str, tuple[str, ...]] = {
    "accompani": ("along with", "together with", "joined by", "entourage", "delegation", "travelled with",
                  "traveled with", "came with"),
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
    # "their first meeting in six years" says how long it had been since the last (previous) one.
    "sinc": (FIRST_IN_YEARS,),
    "last": (FIRST_IN_YEARS,),
    "previous": (FIRST_IN_YEARS,),
}


@dataclass
class _Question:
    text: str
    kind: str
    stems: frozenset[str]
    words: frozenset[str]
    focus: str  # what a name question asks about ("Kim's daughter"), for the refusal reason
    head: str  # its head noun's stem ("daughter"), which a name must stand next to
    role: str = ""  # a who-question's role noun stem ("director" in "Who is the director of ..."), "" if none

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
    lex: float = 0.0
    cos: float = 0.0
    base: float = 0.0
    score: float = 0.0  # what orders the sentences
    fit: float = 0.0  # how well it answers: compared with the refusal threshold and the margin
    type_ok: bool = True
    doc: Any = None


class ExtractiveAnswerer:
    """Scores passage sentences against the question and answers with the best verbatim ones."""

    mode = "extractive"
    timing_key = "extract"  # the stage name in an answer's timings

    def __init__(self, settings: Settings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder

    def run(self, question: str, passages: list[Passage]) -> Draft:
        """Answer a question from ranked passages without an LLM.

        Article text is data: sentences are only scored, never interpreted as instructions.

        Args:
            question: the user's question.
            passages: retrieved passages; their list order gives their numbers 1..n and their rank.
        Returns:
            A Draft whose sentences are verbatim passage sentences (so citations are exact), or a refusal.
        """
        w = self.settings.answer
        threshold = w.refusal_threshold
        q = analyse_question(question)
        cands = _candidates(passages)
        if not cands:
            return Draft(refused=True, reason="No passages were found for this question.", kind=q.kind)
        self._score(q, cands)
        ranked = sorted(cands, key=lambda c: -c.score)
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
        chosen = [best]
        for c in sorted(ok[1:], key=lambda c: -c.fit):
            if len(chosen) >= w.max_answer_sentences or c.fit < max(threshold, best.fit - w.margin):
                break
            if not any(_near_duplicate(c, o) for o in chosen):
                chosen.append(c)
        published = _parse_date(passages[best.passage].date)
        return Draft(
            sentences=[(c.text, c.passage + 1) for c in chosen],
            short_answer=short_answer(q, best, published),
            score=evidence,
            kind=q.kind,
        )

    def _score(self, q: _Question, cands: list[_Candidate]) -> None:
        """Fill lex, cos, base, type_ok and score of the candidates (dense only for the lexical front-runners)."""
        n = len(cands)
        df: dict[str, int] = {}
        for c in cands:
            for s in c.stems:
                df[s] = df.get(s, 0) + 1
        idf = {s: math.log(1 + n / df.get(s, 0.5)) for s in q.stems}
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
        for c in cands:
            dense = min(1.0, max(0.0, (c.cos - 0.1) / 0.6))
            c.base = w.dense_weight * dense + w.lexical_weight * c.lex + w.rank_weight * _rank_prior(c.rank)
            c.type_ok = _has_answer_type(q, c) if q.kind else True
            c.score = c.fit = c.base if c.type_ok else c.base * w.type_penalty
            if q.role and c.type_ok and not _name_next_to_role(q, c.doc):
                c.score *= w.role_missing  # "the museum's director, Helena Marques" beats another name in the article
            if q.spec.person_nouns and c.type_ok and not _new_entities(q, c.doc, q.spec.labels):
                # A new name answers "who" better than "the leaders" does, so it leads the answer; the evidence and
                # the other sentences are still judged by `fit` ("his teenage daughter" may join "his sister ...").
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
        hits = [(m.start(), k) for p, k in KIND_PATTERNS for m in [re.search(p, q, re.IGNORECASE)] if m]
        kind = min(hits)[1] if hits else ""
    qstems = set(stems(q)) - ({"name", "call"} if name else set())  # "name"/"called" are the question's words
    role = ""
    if kind and KINDS[kind].roles:
        m = _ROLE_QUESTION.search(q)
        word = m.group("role").lower() if m else ""
        if word and word not in _NOT_ROLES and not word.endswith(("ed", "ly")):  # "Who is known for", not a role
            role = _stem_one(word)
    return _Question(q, kind, frozenset(qstems), frozenset(words(q)), focus, head, role)


def _candidates(passages: list[Passage]) -> list[_Candidate]:
    """Every distinct passage sentence once (passages overlap by a sentence: keep the higher-ranked copy)."""
    seen: set[str] = set()
    out: list[_Candidate] = []
    for i, p in enumerate(passages):
        for span in split_sentences(p.text):
            key = " ".join(words(span.text))
            if not key or key in seen:
                continue
            seen.add(key)
            out.append(_Candidate(span.text, i, i, frozenset(stems(span.text))))
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


def _name_next_to_role(q: _Question, doc: Doc) -> bool:
    """Whether a new name stands within 3 words of the role the question asks about."""
    roles = [t.i for t in doc if _stem_one(t.lower_) == q.role]
    people = _new_entities(q, doc, ("PERSON", "ORG"))  # the small model often tags a person ORG
    return any(min(abs(r - e.start), abs(r - (e.end - 1))) <= 3 for r in roles for e in people)


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


def short_answer(q: _Question, best: _Candidate, published: date | None = None) -> str:
    """A SQuAD-style short answer taken from the best sentence: an entity or noun phrase not in the question.

    Args:
        q: the analysed question.
        best: the best sentence (its NER doc filled).
        published: the article's publish date, to pin down a bare weekday ("Tuesday (2 September 2025)").
    Returns:
        The short answer, or "" when nothing fits.
    """
    doc = best.doc
    if doc is None:
        return ""
    spec = q.spec if q.kind else None
    if spec:
        for label in spec.short:
            ents = _new_entities(q, doc, (label,))
            if q.head:  # "the name of his daughter": the name nearest to "daughter"
                ents.sort(key=lambda e: min((abs(t.i - e.start) for t in doc if stems(t.text) == [q.head]), default=99))
            if spec.prefer_units:
                ents.sort(key=lambda e: not DURATION_UNIT.search(e.text))
            if ents:
                ent = ents[0]
                if spec.person_nouns and label == "PERSON":
                    return _clean(_with_person_noun(doc, ent))
                return _clean(_date_note(ent.text, best.text, published) if spec.date_note else ent.text)
        if spec.person_nouns:
            nouns = _person_nouns(q, doc)
            if nouns:
                return _clean(_noun_phrase(doc, nouns[0]))
    return _clean(_phrase_after_match(q, best.text))


def _with_person_noun(doc: Doc, ent: Span) -> str:
    """Extend "Kim Yo Jong" to "his sister Kim Yo Jong" when a person noun stands right before it."""
    i = ent.start - 1
    if i < 0 or doc[i].lower_ not in PERSON_NOUNS:
        return ent.text
    while i - 1 >= 0 and doc[i - 1].tag_ in ("JJ", "PRP$", "DT", "NN", "NNP") and doc[i - 1].ent_type_ in ("", "NORP"):
        i -= 1
    return doc[i : ent.end].text


def _noun_phrase(doc: Doc, i: int) -> str:
    """A noun with its determiners and adjectives before it ("his teenage daughter")."""
    j = i
    while j - 1 >= 0 and doc[j - 1].tag_ in ("JJ", "PRP$", "DT", "NN", "VBN") and not doc[j - 1].ent_type_:
        j -= 1
    return doc[j : i + 1].text


def _phrase_after_match(q: _Question, sentence: str) -> str:
    """For open questions: the first new noun chunk after the last question word the sentence repeats."""
    doc = _parse(sentence)
    matched = [t for t in doc if stems(t.text) and stems(t.text)[0] in q.stems]
    # The answer to "What did Kim vow?" follows the verb ("vowed 'full support'"), not the last shared noun.
    verbs = [t for t in matched if t.pos_ == "VERB"]
    last = (verbs or matched)[-1].i if matched else -1
    chunks = [ch for ch in doc.noun_chunks if ch.root.pos_ != "PRON" and _is_new(ch.text, q) and _new_stem(ch, q)]
    chunks = [ch for ch in chunks if not (ch.ents and all(e.label_ in ("DATE", "TIME") for e in ch.ents))] or chunks
    after = [ch for ch in chunks if ch.start > last]
    if after:
        return after[0].text
    return min((ch.text for ch in chunks), key=len, default="")


def _new_stem(chunk: Span, q: _Question) -> bool:
    return any(stems(t.text) and stems(t.text)[0] not in q.stems for t in chunk)


def _date_note(text: str, sentence: str, published: date | None) -> str:
    """ "Tuesday" -> "Tuesday (2 September 2025)" when the article's publish date is known."""
    if published is None or text.lower() not in WEEKDAYS:
        return text
    cue = rf"\b(?:will|next|scheduled|due to|plans? to|expected to)\b[^.]*\b{text}\b"
    future = bool(re.search(cue, sentence, re.I))
    when = weekday_date(text, published, future=future)
    return f"{text} ({format_day(when)})" if when else text


def _clean(text: str) -> str:
    """SQuAD style: no leading article, no surrounding quotes or trailing punctuation."""
    t = text.strip()
    parts = t.split(" ", 1)
    if len(parts) == 2 and parts[0].lower() in _DETERMINERS:
        t = parts[1]
    t = t.strip(",;:.!?\"'“”‘’[] ")
    if t.endswith(")") and "(" not in t:
        t = t.rstrip(")")
    return t.lstrip("(").strip() if t.startswith("(") and ")" not in t else t


def _parse_date(iso: str) -> date | None:
    try:
        return date.fromisoformat((iso or "")[:10])
    except ValueError:
        return None


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
