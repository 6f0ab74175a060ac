"""Answers across articles: runs a question plan's sub-queries, finds each named report's claim, compares in code."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from articleqa.embed import Embedder
from articleqa.models import Passage
from articleqa.text import content_words, split_sentences
from qa.cite import encode_cached, stems
from qa.plan import Plan, Step
from qa.retrieve import Filters, HybridRetriever

NOT_ENOUGH = "The articles do not give enough information"
# A report "says" a claim when its best sentence reaches this support (0-1: 0.5 dense + 0.5 stem recall of the
# claim's content words). Chosen on the development half of multihop-rag-dev (bench/README.md).
CLAIM_SUPPORT = 0.42
# Entity labels a "which/who" question can be asking for.
_PERSON_CUE = re.compile(r"\b(?:who|whom|whose|individual|person|man|woman|ceo|founder|executive|player|athlete|"
                         r"coach|quarterback|singer|actor|actress|artist|celebrity|figure|entrepreneur)\b", re.I)
_ENTITY_LABELS = ("ORG", "PERSON", "PRODUCT", "GPE", "WORK_OF_ART", "EVENT", "NORP", "FAC", "LOC")


@dataclass
class PlanRetrieval:
    """Passages found for each step of a plan and their merge."""

    passages: list[Passage]  # merged: every step's best passages first, then the rest, round robin
    groups: list[list[Passage]] = field(default_factory=list)  # per step, best first
    timings: dict[str, float] = field(default_factory=dict)


class PlanRetriever:
    """Runs each step of a plan through the hybrid retriever with its own source and date filter and merges the
    results so every named source is represented."""

    def __init__(self, retriever: HybridRetriever):
        self.retriever = retriever

    def run(self, plan: Plan, query: str, filters: Filters, k: int = 10) -> PlanRetrieval:
        """Retrieve for every step and merge.

        Args:
            plan: the question's plan (its steps carry sources and dates).
            query: the whole (rewritten) question, also searched without a source filter as a last group.
            filters: the user's own restrictions (source, since, until), applied to every step.
            k: passages in the merged list.
        Returns:
            A PlanRetrieval; `groups` align with `plan.steps` plus one last group for the whole question.
        """
        timings: dict[str, float] = {}
        groups: list[list[Passage]] = []
        for step in plan.steps:
            groups.append(self._step(step, filters, max(k, 6), timings))
        groups.append(self.retriever.run(query, filters, k=k).passages)
        merged: list[Passage] = []
        seen: set[str] = set()
        for rank in range(max((len(g) for g in groups), default=0)):
            for g in groups:
                if rank < len(g) and g[rank].id not in seen:
                    seen.add(g[rank].id)
                    merged.append(g[rank])
        return PlanRetrieval(merged[:k], groups, timings)

    def _step(self, step: Step, filters: Filters, k: int, timings: dict[str, float]) -> list[Passage]:
        t = time.perf_counter()
        found: list[Passage] = []
        for source in step.sources or [filters.source]:
            if filters.source and source and source != filters.source:
                continue
            since = max((d for d in (step.since, filters.since) if d), default=None)
            until = min((d for d in (step.until, filters.until) if d), default=None)
            got = self.retriever.run(step.query, Filters(source, since, until), k=k).passages
            if not got and (step.since or step.until):  # the date named may be off by more than a day
                got = self.retriever.run(step.query, Filters(source, filters.since, filters.until), k=k).passages
            found += got
        found.sort(key=lambda p: -p.score)
        timings["plan_retrieve"] = timings.get("plan_retrieve", 0.0) + time.perf_counter() - t
        return found[:k]


@dataclass
class Evidence:
    """The sentence of one report that best supports a step's claim."""

    step: int
    passage: Passage | None
    sentence: str = ""
    support: float = 0.0


@dataclass
class MultiHopResult:
    """A cross-article answer: a verdict or entity with one cited sentence per report, or a refusal saying what is
    missing."""

    short_answer: str = ""
    lead: str = ""  # the verdict line shown before the cited sentences ("Yes: both reports say so.")
    sentences: list[tuple[str, int]] = field(default_factory=list)  # (verbatim sentence, 1-based passage number)
    passages: list[Passage] = field(default_factory=list)  # what the sentence numbers refer to
    refused: bool = False
    reason: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)


class MultiHopAnswerer:
    """Answers a planned multi-article question from the passages each step found, deciding in code."""

    def __init__(self, embedder: Embedder, support: float = CLAIM_SUPPORT):
        self.embedder = embedder
        self.support = support

    def run(self, plan: Plan, retrieval: PlanRetrieval) -> MultiHopResult:
        """Answer from a plan and its retrieval.

        Returns:
            A MultiHopResult: refused with the missing part named when a named publication has no stored article
            or a report's claim is not found; otherwise the short answer and one sentence per report.
        """
        if plan.unknown_sources:
            names = ", ".join(plan.unknown_sources)
            return MultiHopResult(refused=True, reason=f"{NOT_ENOUGH}: no stored article is from {names}.")
        steps = plan.steps
        if not steps:
            return MultiHopResult(refused=True, reason=f"{NOT_ENOUGH}: the question names no stored source.")
        evidence = [self._best(i, s.query if not plan.claims else _claim_text(plan, i), retrieval.groups[i])
                    for i, s in enumerate(steps)]
        missing = [steps[e.step].label for e in evidence if e.passage is None]
        if missing:
            return MultiHopResult(refused=True, evidence=evidence,
                                  reason=f"{NOT_ENOUGH}: no article found for {', '.join(missing)}.")
        absent = _absent_names(plan.question, retrieval.groups)
        if absent:
            return MultiHopResult(refused=True, evidence=evidence,
                                  reason=f"{NOT_ENOUGH}: no report found about {', '.join(absent)}.")
        if plan.answer_kind == "name":
            return self._entity(plan, retrieval, evidence)
        return self._verdict(plan, evidence)

    # ---- evidence per step -------------------------------------------------------------------------------------
    def _best(self, i: int, claim: str, passages: list[Passage]) -> Evidence:
        sents = [(p, s.text) for p in passages for s in split_sentences(p.text) if len(s.text) > 20]
        if not sents:
            return Evidence(i, None)
        vecs = encode_cached(self.embedder, [claim] + [s for _, s in sents])
        cos = vecs[1:] @ vecs[0]
        want = set(stems(claim))
        best, score = None, -1.0
        for (p, s), c in zip(sents, cos, strict=True):
            have = set(stems(s))
            recall = len(want & have) / len(want) if want else 0.0
            value = 0.5 * float(np.clip((c - 0.1) / 0.6, 0, 1)) + 0.5 * recall
            if value > score:
                best, score = (p, s), value
        assert best is not None
        return Evidence(i, best[0], best[1], round(score, 4))

    # ---- verdicts ----------------------------------------------------------------------------------------------
    def _verdict(self, plan: Plan, evidence: list[Evidence]) -> MultiHopResult:
        by_article: dict[str, Evidence] = {}
        for e in evidence:
            if e.passage is not None and (e.passage.article_id not in by_article
                                          or e.support > by_article[e.passage.article_id].support):
                by_article[e.passage.article_id] = e
        cited = sorted(by_article.values(), key=lambda e: e.step)
        supports = [e.support for e in evidence]
        feats = {"min_support": min(supports), "mean_support": float(np.mean(supports)),
                 "articles": float(len(cited))}
        if plan.answer_kind == "before_after" and len(cited) >= 2:
            a, b = cited[0].passage, cited[1].passage
            order = "before" if (a.date or "") < (b.date or "") else "after"
            lead = f"{order.capitalize()}: {a.source} published it on {a.date}, {b.source} on {b.date}."
            return self._result(order.capitalize(), lead, cited, feats)
        yes = feats["min_support"] >= self.support and len(cited) >= min(2, len(plan.steps))
        if yes:
            lead = "Yes: " + _each_says(cited)
        else:
            weakest = min(evidence, key=lambda e: e.support)
            lead = f"No: {plan.steps[weakest.step].label} does not clearly say so; its closest sentence is cited."
        return self._result("Yes" if yes else "No", lead, cited, feats)

    # ---- entities ----------------------------------------------------------------------------------------------
    def _entity(self, plan: Plan, retrieval: PlanRetrieval, evidence: list[Evidence]) -> MultiHopResult:
        from qa.extractive import get_nlp

        person = bool(_PERSON_CUE.search(plan.question.split(",")[0]))
        qlow = plan.question.casefold()
        sources = {s.casefold() for m in plan.mentions for s in m.sources} | {m.text.casefold() for m in plan.mentions}
        nlp = get_nlp()
        counts: Counter[str] = Counter()
        steps_with: dict[str, set[int]] = {}
        where: dict[str, list[tuple[int, Passage]]] = {}
        for i, group in enumerate(retrieval.groups[: len(plan.steps)]):
            texts = [p.text for p in group[:4]]
            for p, doc in zip(group[:4], nlp.pipe(texts, disable=["parser", "lemmatizer"]), strict=True):
                for ent in doc.ents:
                    if ent.label_ not in _ENTITY_LABELS:
                        continue
                    if person != (ent.label_ == "PERSON"):
                        continue
                    name = ent.text.strip(" '’\"")
                    key = name.casefold()
                    if len(key) < 2 or key in sources or key in qlow:
                        continue
                    counts[name] += 1
                    steps_with.setdefault(name, set()).add(i)
                    where.setdefault(name, []).append((i, p))
        if not counts:
            return MultiHopResult(refused=True, evidence=evidence,
                                  reason=f"{NOT_ENOUGH}: no name the reports share was found.")
        names = _merge_variants(counts)
        for short, full in names.items():
            if short != full:
                counts[full] += counts.pop(short, 0)
                steps_with.setdefault(full, set()).update(steps_with.pop(short, set()))
                where.setdefault(full, []).extend(where.pop(short, []))
        best = max(counts, key=lambda n: (len(steps_with[n]), counts[n]))
        # One sentence per report naming the entity, best supported first.
        cited: list[Evidence] = []
        seen_articles: set[str] = set()
        for i, p in where[best]:
            if p.article_id in seen_articles:
                continue
            sent = next((s.text for s in split_sentences(p.text) if best.casefold() in s.text.casefold()), "")
            if sent:
                seen_articles.add(p.article_id)
                cited.append(Evidence(i, p, sent, 1.0))
        feats = {"entity_steps": float(len(steps_with[best])), "steps": float(len(plan.steps))}
        lead = f"{best}: named in {len(cited)} of the reports."
        return self._result(best, lead, cited, feats)

    def _result(self, short: str, lead: str, cited: list[Evidence], feats: dict[str, float]) -> MultiHopResult:
        passages: list[Passage] = []
        sentences: list[tuple[str, int]] = []
        for e in cited:
            if e.passage is None:
                continue
            if e.passage not in passages:
                passages.append(e.passage)
            sentences.append((e.sentence, passages.index(e.passage) + 1))
        return MultiHopResult(short_answer=short, lead=lead, sentences=sentences, passages=passages,
                              evidence=cited, features=feats)


def _claim_text(plan: Plan, i: int) -> str:
    # The claim of a step: its own piece of the question plus the shared tail, without the report wording.
    piece = plan.claims[i] if i < len(plan.claims) else ""
    tail = plan.claims[-1] if plan.claims else ""
    text = piece if piece == tail else f"{piece} {tail}"
    return re.sub(rf"\b(?:{_REPORT_WORDS})\b", " ", text, flags=re.I).strip() or plan.question


_REPORT_WORDS = ("article|articles|report|reports|reported|piece|feature|published|publication|source|suggest|"
                 "suggests|indicate|indicates|both|does|did|do|the|and|while|whereas")


def _each_says(cited: list[Evidence]) -> str:
    names = [e.passage.source or e.passage.title for e in cited if e.passage is not None]
    return ("both reports say so." if len(names) == 2 and len(set(names)) == 1
            else f"{' and '.join(dict.fromkeys(names))} each say so.")


def _merge_variants(counts: Counter[str]) -> dict[str, str]:
    """Map a name to the longest name containing it as whole words ("Bankman-Fried" -> "Sam Bankman-Fried")."""
    out = {}
    names = sorted(counts, key=len, reverse=True)
    for n in names:
        full = next((m for m in names if len(m) > len(n) and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", m)), n)
        out[n] = full
    return out


# Names in the question the reports must mention: quoted titles and capitalised multi-word names.
_QUOTED = re.compile(r"[\"“]([^\"”]{3,60})[\"”]")
_PROPER = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][a-z]+(?:[-\s][A-Z][a-z]+){1,3})\b")


def _absent_names(question: str, groups: list[list[Passage]]) -> list[str]:
    """Multi-word names the question relies on that none of the retrieved passages mention (by their last word).

    A question about a person or work the store has no report on ("Zhemu Soda's environmental initiatives") cannot
    be answered whichever passage ranks first.
    """
    text = " ".join(p.text + " " + p.title for g in groups for p in g).casefold()
    names = [m.group(1) for m in _QUOTED.finditer(question)] + [m.group(1) for m in _PROPER.finditer(question)]
    out = []
    for n in dict.fromkeys(names):
        words = [w for w in content_words(n) if len(w) > 2]
        if words and not any(w.casefold() in text for w in words):
            out.append(n)
    return out


def publish_day(p: Passage) -> dt.date | None:
    """The passage's article's publish date, if it has one."""
    try:
        return dt.date.fromisoformat(p.date[:10]) if p.date else None
    except ValueError:
        return None
