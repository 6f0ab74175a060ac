"""Candidate answer spans of a few evidence sentences and the features the learned span reader scores them by."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from articleqa.text import words

if TYPE_CHECKING:
    from spacy.tokens import Span

# Question classes: the extractive answerer's expected answer kind when it has one, else the question word.
QCLASSES = (
    "person", "name", "date", "number", "money", "duration", "place", "what", "which", "how", "why", "other",
)
# Span types: entity label groups, then noun chunks and bare numbers without an entity.
STYPES = (
    "PERSON", "ORG", "GPE", "NORP", "DATE", "TIME", "CARDINAL", "ORDINAL", "MONEY", "PERCENT", "QUANTITY", "WORK",
    "CHUNK_PROPER", "CHUNK", "NUMBER",
)
_STYPE_OF_LABEL = {
    "PERSON": "PERSON", "ORG": "ORG", "GPE": "GPE", "LOC": "GPE", "FAC": "GPE", "NORP": "NORP", "DATE": "DATE",
    "TIME": "TIME", "CARDINAL": "CARDINAL", "ORDINAL": "ORDINAL", "MONEY": "MONEY", "PERCENT": "PERCENT",
    "QUANTITY": "QUANTITY", "WORK_OF_ART": "WORK", "PRODUCT": "WORK", "EVENT": "WORK", "LAW": "WORK",
    "LANGUAGE": "WORK",
}
DEPS = ("nsubj", "obj", "pobj", "attr", "appos", "compound", "conj")
_DEP_GROUP = {"nsubj": "nsubj", "nsubjpass": "nsubj", "dobj": "obj", "obj": "obj", "pobj": "pobj", "attr": "attr",
              "appos": "appos", "compound": "compound", "conj": "conj"}
_DETERMINERS = frozenset({"the", "a", "an"})
_NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "NORP", "FAC", "LOC"})
_QUOTES = "\"“”‘’'"
WINDOW = 6  # tokens either side of a span that count as its context
MAX_SPAN_WORDS = 12  # longer "spans" are clauses, not answers; SQuAD/RealTimeQA dev golds: 98% have <= 8 words

# Dense features, in this order, after the question-class x span-type interactions.
NUMERIC = (
    "bias", "sent_fit", "sent_cos", "sent_lex", "sent_rank", "passage_rank", "in_q_share", "all_in_q",
    "n_words", "log_words", "rel_pos", "dist_q", "no_q_match", "has_digit", "capitalised", "redundancy",
    "in_title", "after_verb", "quoted", "pronoun", "type_expected", "is_entity", "short_sentence", "person_noun",
    "window_q", "window_q_before", "window_q_after", "article_freq", "title_freq",
    "has_target", "target_sim", "target_gap", "target_label_sim",
) + tuple(f"dep_{d}" for d in DEPS)


def feature_names() -> list[str]:
    """Names of the feature vector's entries (the order of the stored weights)."""
    return [f"{q}x{s}" for q in QCLASSES for s in STYPES] + list(NUMERIC)


@dataclass
class SentenceView:
    """An evidence sentence as the reader sees it: text, passage, parse and its extractive scores."""

    text: str
    passage: int  # 0-based index into the passages
    doc: Any  # spaCy Doc with parser (noun chunks, dependencies) and NER
    fit: float
    cos: float
    lex: float
    rank: int  # 0-based rank by the extractive fit
    title: str = ""


@dataclass
class SpanCandidate:
    """One candidate answer: a verbatim slice of one evidence sentence."""

    text: str
    sentence: int  # index into the SentenceView list
    start: int  # character offsets in the sentence text
    end: int
    stype: str
    features: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class Context:
    """What the reader knows beyond the sentences it reads: the retrieved text of each article and the articles'
    titles (normalised to " word word " form for span look-ups), and the noun a "which X" question asks for with an
    encoder to compare spans with it."""

    articles: list[str]  # the retrieved passages of each article, joined: recurring in one article is not evidence
    titles: list[str]
    target: str = ""  # "show" in "Which show won ...?" ("" when the question names no such noun)
    encode: Callable[[list[str]], np.ndarray] | None = None  # normalised sentence vectors (the answerer's MiniLM)

    @classmethod
    def of(cls, passages: list[tuple[str, str, str]], target: str = "",
           encode: Callable[[list[str]], np.ndarray] | None = None) -> Context:
        """From (article id, title, text) of each retrieved passage.

        Args:
            passages: the retrieved passages as (article id, title, text).
            target: the noun the question asks for ("" when none).
            encode: texts -> normalised vectors.
        """
        norm = lambda t: " " + " ".join(words(t)) + " "  # noqa: E731
        texts: dict[str, list[str]] = {}
        titles: dict[str, str] = {}
        for article, title, text in passages:
            texts.setdefault(article, []).append(text)
            titles[article] = title
        return cls([norm(" ".join(t)) for t in texts.values()], [norm(t) for t in titles.values() if t], target,
                   encode)


def answer_target(doc: Any) -> str:
    """The noun a question asks for by "which"/"what" ("Which show won ...?" -> "show"; "which menu item" ->
    "menu item"), from the parsed question; "" when there is none."""
    for t in doc:
        h = t.head
        if t.lower_ in ("which", "what") and t.dep_ == "det" and h.pos_ in ("NOUN", "PROPN") and h.i > t.i:
            compounds = [c.text for c in h.children if c.dep_ == "compound" and c.i < h.i]
            return " ".join([*compounds, h.text])
    return ""


def _label_text(label: str) -> str:
    """spaCy's own description of an entity label ("GPE" -> "Countries, cities, states")."""
    import spacy

    return spacy.explain(label) or label


def target_similarities(context: Context | None, spans: list[SpanCandidate], labels: list[str]) -> np.ndarray:
    """Per span: MiniLM similarity of the asked-for noun to the span's text and to its entity label's description
    (zeros when the question asks for no noun)."""
    out = np.zeros((len(spans), 2))
    if context is None or not context.target or context.encode is None or not spans:
        return out
    texts = list(dict.fromkeys([context.target] + [sp.text for sp in spans] + [_label_text(x) for x in labels if x]))
    at = {t: i for i, t in enumerate(texts)}
    vecs = context.encode(texts)
    target = vecs[0]
    for r, (sp, label) in enumerate(zip(spans, labels, strict=True)):
        out[r, 0] = float(vecs[at[sp.text]] @ target)
        out[r, 1] = float(vecs[at[_label_text(label)]] @ target) if label else 0.0
    return out


def question_class(kind: str, question: str) -> str:
    """The reader's question class: the expected answer kind, else the leading question word."""
    if kind:
        return kind
    q = question.lower()
    for word in ("why", "how", "which", "what"):
        if re.search(rf"\b{word}\b", q):
            return word
    return "other"


def candidate_spans(sentences: list[SentenceView]) -> list[SpanCandidate]:
    """Entities, noun chunks (with a following "of" chunk) and numbers of each sentence, deduplicated."""
    out: list[SpanCandidate] = []
    for i, s in enumerate(sentences):
        seen: set[tuple[int, int]] = set()
        doc = s.doc

        def add(span: Span, stype: str, i: int = i, seen: set[tuple[int, int]] = seen) -> None:
            start, end = _trim(span)
            if start >= end or (start, end) in seen:
                return
            text = span.doc.text[start:end]
            if not re.search(r"\w", text) or len(text.split()) > MAX_SPAN_WORDS:
                return
            seen.add((start, end))
            out.append(SpanCandidate(text, i, start, end, stype))

        for ent in doc.ents:
            add(ent, _STYPE_OF_LABEL.get(ent.label_, "CHUNK"))
        chunks = list(doc.noun_chunks)
        for j, ch in enumerate(chunks):
            proper = any(t.pos_ == "PROPN" for t in ch)
            add(ch, "CHUNK_PROPER" if proper else "CHUNK")
            nxt = chunks[j + 1] if j + 1 < len(chunks) else None
            if nxt is not None and ch.end < len(doc) and doc[ch.end].lower_ == "of" and nxt.start == ch.end + 1:
                add(doc[ch.start : nxt.end], "CHUNK_PROPER" if proper else "CHUNK")
        # "his sister" + "Kim Yo Jong", "the museum's director" + "Helena Marques": a noun chunk and the name right
        # after it (apposition without a comma), which neither the chunker nor NER gives as one span.
        for ch in chunks:
            for ent in doc.ents:
                if ent.start == ch.end and ent.label_ in _NAME_LABELS:
                    add(doc[ch.start : ent.end], "CHUNK_PROPER")
        for t in doc:
            if t.like_num and not t.ent_type_:
                end = t.i + 2 if t.i + 1 < len(doc) and doc[t.i + 1].pos_ == "NOUN" else t.i + 1
                add(doc[t.i : end], "NUMBER")
    return out


def _trim(span: Span) -> tuple[int, int]:
    """Character offsets without a leading article, surrounding quotes or trailing punctuation."""
    text = span.text
    start = span.start_char
    first = text.split(" ", 1)
    if len(first) == 2 and first[0].lower() in _DETERMINERS:
        start += len(first[0]) + 1
        text = first[1]
    lead = len(text) - len(text.lstrip(_QUOTES + " ("))
    text = text.lstrip(_QUOTES + " (")
    start += lead
    text = text.rstrip(_QUOTES + " ,;:.!?)")
    return start, start + len(text)


def span_features(
    question: str, kind: str, qstems: frozenset[str], qwords: frozenset[str], sentences: list[SentenceView],
    spans: list[SpanCandidate], stem: Any, expected: dict[str, frozenset[str]],
    person_nouns: frozenset[str] = frozenset(), context: Context | None = None,
) -> np.ndarray:
    """The feature matrix (one row per span, columns as `feature_names()`).

    Args:
        question: the question text.
        kind: its expected answer kind ("" if none).
        qstems, qwords: its stems and lower-cased words.
        sentences: the evidence sentences the spans come from.
        spans: the candidates.
        stem: word -> stem function (the one the answerer uses).
        expected: answer kind -> spaCy labels that answer it.
        person_nouns: nouns that name people ("sister", "minister"): a span headed by one can answer "who".
        context: the texts and titles of all the retrieved passages (how often a span recurs there).
    """
    qclass = question_class(kind, question)
    names = feature_names()
    index = {n: i for i, n in enumerate(names)}
    rows = np.zeros((len(spans), len(names)), dtype=np.float64)
    norm_sents = [" " + " ".join(words(s.text)) + " " for s in sentences]
    labels = [next((e.label_ for e in sentences[sp.sentence].doc.ents
                    if e.start_char <= sp.start and e.end_char >= sp.end), "") for sp in spans]
    sims = target_similarities(context, spans, labels)
    best_sim = float(sims[:, 0].max()) if len(spans) else 0.0
    for r, sp in enumerate(spans):
        s = sentences[sp.sentence]
        doc = s.doc
        row = rows[r]
        row[index[f"{qclass}x{sp.stype}"]] = 1.0
        ws = [w for w in words(sp.text) if w not in _DETERMINERS]
        in_q = [w for w in ws if w in qwords or stem(w) in qstems]
        tokens = [t for t in doc if t.idx >= sp.start and t.idx < sp.end]
        first = tokens[0].i if tokens else 0
        last = tokens[-1].i if tokens else 0
        q_tokens = [t.i for t in doc if t.is_alpha and not t.is_stop and stem(t.lower_) in qstems]
        outside = [i for i in q_tokens if i < first or i > last]
        dist = min((min(abs(i - first), abs(i - last)) for i in outside), default=None)
        near = [i for i in outside if abs(i - first) <= WINDOW or abs(i - last) <= WINDOW]
        verbs = [t.i for t in doc if t.pos_ == "VERB" and t.i in q_tokens]
        key = " " + " ".join(ws) + " "
        root = tokens and min(tokens, key=lambda t: sum(1 for _ in t.ancestors))
        dep = _DEP_GROUP.get(root.dep_, "") if root else ""
        ent_label = next((e.label_ for e in doc.ents if e.start_char <= sp.start and e.end_char >= sp.end), "")
        values = {
            "bias": 1.0,
            "sent_fit": s.fit,
            "sent_cos": s.cos,
            "sent_lex": s.lex,
            "sent_rank": 1.0 / (1.0 + s.rank),
            "passage_rank": 1.0 / (1.0 + 0.5 * s.passage),
            "in_q_share": len(in_q) / len(ws) if ws else 1.0,
            "all_in_q": float(bool(ws) and len(in_q) == len(ws)),
            "n_words": min(len(ws), MAX_SPAN_WORDS) / MAX_SPAN_WORDS,
            "log_words": math.log1p(len(ws)),
            "rel_pos": first / max(1, len(doc) - 1),
            "dist_q": math.log1p(dist) if dist is not None else 0.0,
            "no_q_match": float(dist is None),
            "has_digit": float(any(ch.isdigit() for ch in sp.text)),
            "capitalised": float(sp.text[:1].isupper() and first > 0),
            # Other evidence sentences repeating the span (answers recur across reports); a question word recurs
            # everywhere, so only the part of the span not in the question counts, and with diminishing returns.
            "redundancy": math.log1p(sum(1 for j, n in enumerate(norm_sents) if j != sp.sentence and key in n))
            * (1.0 - (len(in_q) / len(ws) if ws else 1.0)),
            "in_title": (sum(1 for w in ws if w in set(words(s.title))) / len(ws)) if ws and s.title else 0.0,
            "after_verb": float(bool(verbs) and first > max(verbs)),
            "quoted": float(first > 0 and doc[first - 1].text in _QUOTES),
            "pronoun": float(bool(tokens) and all(t.pos_ in ("PRON", "DET") for t in tokens)),
            "type_expected": float(bool(kind) and ent_label in expected.get(kind, ())),
            "is_entity": float(bool(ent_label)),
            "short_sentence": float(len(s.text.split()) <= 25),
            "person_noun": float(bool(root) and root.lower_ in person_nouns),
            # How much of the question stands right around the span: answers sit next to the question's words.
            "window_q": len({stem(doc[i].lower_) for i in near}) / max(1, len(qstems)),
            "window_q_before": float(sum(1 for i in outside if first - WINDOW <= i < first)),
            "window_q_after": float(sum(1 for i in outside if last < i <= last + WINDOW)),
            # Answers recur across the retrieved reports (and their headlines); a span repeating the question does
            # too, so only the part not in the question counts.
            "article_freq": (math.log1p(sum(1 for t in context.articles if key in t)) if context and key.strip()
                             else 0.0) * (1.0 - (len(in_q) / len(ws) if ws else 1.0)),
            "title_freq": (math.log1p(sum(1 for t in context.titles if key in t)) if context and key.strip()
                           else 0.0) * (1.0 - (len(in_q) / len(ws) if ws else 1.0)),
            # "Which show ...?": how close the span (and its entity label's description) is to the noun asked for.
            "has_target": float(bool(context and context.target)),
            "target_sim": sims[r, 0],
            "target_gap": sims[r, 0] - best_sim,
            "target_label_sim": sims[r, 1],
        }
        if dep:
            values[f"dep_{dep}"] = 1.0
        for name, v in values.items():
            row[index[name]] = v
    return rows


# Question-level features of the answerability model: does the best evidence really answer, or only resemble it?
ANSWERABILITY = (
    "bias", "best_fit", "best_cos", "best_lex", "second_gap", "top_span", "missing_share", "missing_names",
    "missing_numbers",
)
_CAPITALISED = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'’-]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def answerability_features(
    question: str, qstems: frozenset[str], fits: list[float], best_cos: float, best_lex: float, top_span: float,
    passage_text: str, stem: Any,
) -> np.ndarray:
    """One row over `ANSWERABILITY`: evidence scores, and what of the question the best passage lacks (SQuAD 2.0's
    unanswerable questions are written to look answerable, usually by swapping in a name or number not there).

    Args:
        question: the question.
        qstems: its stems.
        fits: the extractive fit of the best sentences, best first.
        best_cos, best_lex: dense and lexical scores of the best sentence.
        top_span: the span reader's best probability.
        passage_text: the text of the best sentence's passage.
        stem: word -> stem.
    """
    pwords = {w for w in words(passage_text)}
    pstems = {stem(w) for w in pwords}
    names = [w.lower() for w in _CAPITALISED.findall(question)]
    numbers = _NUMBER.findall(question)
    values = {
        "bias": 1.0,
        "best_fit": fits[0] if fits else 0.0,
        "best_cos": best_cos,
        "best_lex": best_lex,
        "second_gap": (fits[0] - fits[1]) if len(fits) > 1 else 0.0,
        "top_span": top_span,
        "missing_share": (len([s for s in qstems if s not in pstems]) / len(qstems)) if qstems else 0.0,
        "missing_names": float(sum(1 for n in names if n not in pwords and stem(n) not in pstems)),
        "missing_numbers": float(sum(1 for n in numbers if n not in passage_text)),
    }
    return np.array([values[n] for n in ANSWERABILITY], dtype=np.float64)
