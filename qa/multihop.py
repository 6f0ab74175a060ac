"""Answers across articles: runs a question plan's sub-queries, finds each named report's claim, compares in code."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from articleqa.embed import Embedder
from articleqa.models import Passage
from articleqa.text import LRU, NLP_LOCK, content_words, nlp, split_sentences, stems
from qa.cite import encode_cached
from qa.plan import Plan, Step
from qa.retrieve import Filters, HybridRetriever
from qa.turn import Draft, Turn
from qa.verdict import VerdictModel, default_model, missing_claim_words, verdict_features

NOT_ENOUGH = "The articles do not give enough information"
# A report "says" a claim when its best sentence reaches this support (0-1: 0.5 dense + 0.5 stem recall of the
# claim's content words). Chosen on the development half of multihop-rag-dev (bench/README.md).
CLAIM_SUPPORT = 0.42
# Entity labels a "which/who" question can be asking for.
_PERSON_CUE = re.compile(r"\b(?:who|whom|whose|individual|person|man|woman|ceo|founder|executive|player|athlete|"
                         r"coach|quarterback|singer|actor|actress|artist|celebrity|figure|entrepreneur)\b", re.I)
# Below this support a report's closest sentence plainly does not make the claim, and the verdict follows from that
# alone. Development half: 9 yes/no questions fall below it, the rule answers 7 of them right, as the model does.
NOT_SAID = 0.25
MIN_OWN_CLAIM_WORDS = 4  # content words a report's own piece of the question needs to stand as its claim
DENSE_SENTENCES = 12  # sentences per step scored with the embedding model
ENTITY_PASSAGES = 4  # passages per step searched for the shared entity
# Capitalised words that precede a surname without being a first name ("Mr Hill", "Coach Purdy", "When Hill").
_NOT_FIRST_NAMES = frozenset("mr mrs ms dr coach president ceo senator judge the a an and but when while after before "
                             "if as at in on for with by said says quarterback receiver".split())
_PLACE_CUE = re.compile(r"\b(?:country|city|state|nation|region|town|place|location)\b", re.I)
_THING_LABELS = frozenset({"ORG", "PRODUCT", "WORK_OF_ART", "EVENT", "NORP", "FAC"})


def expected_labels(question: str) -> frozenset[str]:
    """spaCy entity labels a "which/who/what" question asks for, from its opening clause: people for who-words and
    person nouns, places for place nouns, otherwise organisations, products and other named things."""
    head = " ".join(question.split(",")[0].split()[:8])  # "What is the name of the company that ..."
    if _PERSON_CUE.search(head):
        return frozenset({"PERSON"})
    if _PLACE_CUE.search(head):
        return frozenset({"GPE", "LOC"})
    return _THING_LABELS


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
    claim: str = ""  # what the step's report should say
    lexical: float = 0.0  # share of the claim's stems in the sentence
    dense: float = 0.0  # the sentence's rescaled cosine with the claim


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

    def __init__(self, embedder: Embedder, support: float = CLAIM_SUPPORT, in_store=None,
                 model: VerdictModel | bool | None = None):
        """Args:
        embedder: for sentence vectors (through the shared cache).
        support: claim support at or above which a report counts as saying the claim.
        in_store: optional word -> bool, whether any stored article contains the word (names the store never saw
            make a question unanswerable).
        model: the yes/no verdict's weights; None = the shipped ones, False = the support threshold alone.
        """
        self.embedder = embedder
        self.support = support
        self.in_store = in_store
        self.model = default_model() if model is None else (model or None)

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
        evidence = self.evidence(plan, retrieval)
        missing = [steps[e.step].label for e in evidence if e.passage is None]
        if missing:
            return MultiHopResult(refused=True, evidence=evidence,
                                  reason=f"{NOT_ENOUGH}: no article found for {', '.join(missing)}.")
        absent = absent_names(plan.question, [m.text for m in plan.mentions], self.in_store) if self.in_store else []
        if absent:
            return MultiHopResult(refused=True, evidence=evidence,
                                  reason=f"{NOT_ENOUGH}: no report found about {', '.join(absent)}.")
        if plan.answer_kind == "name":
            return self._entity(plan, retrieval, evidence)
        return self._verdict(plan, evidence, retrieval.groups)

    # ---- evidence per step -------------------------------------------------------------------------------------
    def evidence(self, plan: Plan, retrieval: PlanRetrieval) -> list[Evidence]:
        """Each step's claim sentence: the sentence of its passages that best supports its piece of the question
        (an Evidence without a passage for a step whose passages hold no sentence)."""
        return [ranked[0] if ranked else Evidence(i, None, claim=claim)
                for i, (claim, ranked) in enumerate(self.ranked_evidence(plan, retrieval))]

    def ranked_evidence(self, plan: Plan, retrieval: PlanRetrieval) -> list[tuple[str, list[Evidence]]]:
        """Per step, its claim and its candidate claim sentences, best first.

        The steps' candidate sentences are embedded in one batch (one model call per question, not per step); a
        "which/who" question only needs to know that each report has sentences, so nothing is embedded for it and
        its candidates keep their lexical order.
        """
        claims = [s.query if not plan.claims else _claim_text(plan, i) for i, s in enumerate(plan.steps)]
        fronts = [self._front(c, retrieval.groups[i]) for i, c in enumerate(claims)]
        if plan.answer_kind == "name":
            return [(c, [Evidence(i, p, s, round(r, 4), c, r) for r, p, s in f])
                    for i, (c, f) in enumerate(zip(claims, fronts, strict=True))]
        texts = list(dict.fromkeys([*claims, *(s for f in fronts for _, _, s in f)]))
        vecs = encode_cached(self.embedder, texts) if texts else np.zeros((0, 0))
        row = {t: vecs[n] for n, t in enumerate(texts)}
        out = []
        for i, (claim, front) in enumerate(zip(claims, fronts, strict=True)):
            cos = np.array([row[s] @ row[claim] for _, _, s in front])
            dense = np.clip((cos - 0.1) / 0.6, 0, 1)
            scored = [Evidence(i, p, s, round(0.5 * float(d) + 0.5 * r, 4), claim, r, float(d))
                      for (r, p, s), d in zip(front, dense, strict=True)]
            # Stable sort on the unrounded value: the first of equals wins, as max() picked it before.
            order = sorted(range(len(scored)), key=lambda n: -(0.5 * float(dense[n]) + 0.5 * front[n][0]))
            out.append((claim, [scored[n] for n in order]))
        return out

    def _front(self, claim: str, passages: list[Passage]) -> list[tuple[float, Passage, str]]:
        # Only the lexical front-runners are embedded: the dense score re-orders them, it rarely finds a sentence
        # that shares none of the claim's words, and embedding every sentence would cost seconds per question.
        want = set(stems(claim))
        sents = []
        for p in passages:
            for sp in split_sentences(p.text):
                if len(sp.text) > 20:
                    have = set(stems(sp.text))
                    sents.append((len(want & have) / len(want) if want else 0.0, p, sp.text))
        return sorted(sents, key=lambda x: -x[0])[:DENSE_SENTENCES]

    # ---- verdicts ----------------------------------------------------------------------------------------------
    def _verdict(self, plan: Plan, evidence: list[Evidence], groups: list[list[Passage]]) -> MultiHopResult:
        by_article: dict[str, Evidence] = {}
        for e in evidence:
            if e.passage is not None and (e.passage.article_id not in by_article
                                          or e.support > by_article[e.passage.article_id].support):
                by_article[e.passage.article_id] = e
        cited = sorted(by_article.values(), key=lambda e: e.step)
        if plan.answer_kind == "before_after" and len(cited) >= 2:
            a, b = cited[0].passage, cited[1].passage
            order = "before" if (a.date or "") < (b.date or "") else "after"
            lead = f"{order.capitalize()}: {a.source} published it on {a.date}, {b.source} on {b.date}."
            return self._result(order.capitalize(), lead, cited, {"articles": float(len(cited))})
        feats = verdict_features(plan, evidence, groups, self.embedder)
        asks_change = feats["asks_change"] > 0
        # The reports "say the same" when every claim sentence reaches the support threshold; the fitted model
        # (qa/verdict_weights.json, bench/fit_verdict.py) weighs that with the claim words no report contains, the
        # reports' similarity to each other and how the question frames them.
        agree = feats["min_support"] >= self.support and len(cited) >= min(2, len(plan.steps))
        if feats["min_support"] < NOT_SAID:  # a report plainly does not say it: no model outweighs that
            yes = asks_change
        elif self.model is not None:
            feats["p_yes"] = self.model.probability(feats)
            yes = feats["p_yes"] >= 0.5
        else:
            yes = agree != asks_change
        weakest = min(evidence, key=lambda e: e.support)
        gone = missing_claim_words(weakest, groups[weakest.step] if weakest.step < len(groups) else [])
        why = (f"{plan.steps[weakest.step].label} does not clearly say the same"
               + (f" (it never mentions {', '.join(f'“{w}”' for w in gone[:3])})" if gone else "")
               + "; its closest sentence is cited.")
        if yes != asks_change:  # the reports are taken to say what the question says
            lead = ("Yes: consistent, " + _each_says(cited) if not asks_change
                    else "No: the reports are consistent; each says the same (their sentences are cited).")
        else:
            lead = f"{'Yes' if yes else 'No'}: {why}"
        return self._result("Yes" if yes else "No", lead, cited, feats)

    # ---- entities ----------------------------------------------------------------------------------------------
    def _entity(self, plan: Plan, retrieval: PlanRetrieval, evidence: list[Evidence]) -> MultiHopResult:
        labels = expected_labels(plan.question)
        qlow = plan.question.casefold()
        sources = {s.casefold() for m in plan.mentions for s in m.sources} | {m.text.casefold() for m in plan.mentions}
        groups = [g[:ENTITY_PASSAGES] for g in retrieval.groups[: len(plan.steps)]]
        texts = [" ".join(p.text for p in g).casefold() for g in groups]
        found: Counter[str] = Counter()  # as written -> mentions
        docs = [_passage_docs([p.text for p in g]) for g in groups]
        for doc_group in docs:
            for doc in doc_group:
                for ent in doc.ents:
                    if ent.label_ in labels:
                        name = re.sub(r"^(?:the|this|that|a|an)\s+", "", ent.text.strip(" '’\"“”"), flags=re.I)
                        name = re.sub(r"['’]s?$", "", name).strip()
                        key = name.casefold()
                        if (len(key) >= 2 and name[:1].isupper() and key not in sources and key not in qlow
                                and not key.isdigit()):
                            found[name] += 1
        # A person is counted by surname ("Bankman-Fried" and "Sam Bankman-Fried" are one), shown by the fullest
        # form; a lone first name that starts a longer name is that name.
        names: dict[str, str] = {}  # key searched in the text -> name as shown
        multi = [n for n in found if " " in n]
        for n in sorted(found, key=lambda n: (-len(n.split()), -found[n])):
            if "PERSON" in labels and " " not in n and any(m.split()[0] == n for m in multi):
                continue
            key = n.split()[-1].casefold() if "PERSON" in labels else n.casefold()
            names.setdefault(key, n)
        if not names:
            return MultiHopResult(refused=True, evidence=evidence,
                                  reason=f"{NOT_ENOUGH}: no name the reports share was found.")
        # How many steps' passages name it (whole words), then how often: the entity every report is about.
        pattern = {k: re.compile(rf"(?<!\w){re.escape(k)}(?!\w)") for k in names}
        cover = {k: sum(1 for t in texts if pattern[k].search(t)) for k in names}
        freq = {k: sum(len(pattern[k].findall(t)) for t in texts) for k in names}
        best = max(names, key=lambda k: (cover[k], freq[k], -len(k)))
        # The full form of the name where it is as widespread ("Google" is not "Google Search Generative ...").
        longer = [k for k in names if k != best and pattern[best].search(k) and cover[k] == cover[best]]
        if longer:
            best = max(longer, key=lambda k: freq[k])
        name = names[best]
        if "PERSON" in labels:  # shown by its fullest written form in the passages ("Hill" -> "Tyreek Hill")
            raw = " ".join(p.text for g in groups for p in g)
            surname = re.escape(name.split()[-1])
            forms = Counter(f for f in re.findall(rf"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)? {surname})\b", raw)
                            if f.split()[0].casefold() not in _NOT_FIRST_NAMES)
            full = [f for f in forms if f in found] or [f for f, c in forms.items() if c >= 2]
            if full:
                name = max(full, key=lambda f: forms[f])
        cited: list[Evidence] = []
        seen_articles: set[str] = set()
        for i, g in enumerate(groups):
            for p in g:
                if p.article_id in seen_articles:
                    continue
                sent = next((s.text for s in split_sentences(p.text) if pattern[best].search(s.text.casefold())), "")
                if sent:
                    seen_articles.add(p.article_id)
                    cited.append(Evidence(i, p, sent, 1.0))
                    break
        feats = {"entity_steps": float(cover[best]), "steps": float(len(plan.steps))}
        lead = f"{name}: named in {cover[best]} of the {len(plan.steps)} reports searched."
        return self._result(name, lead, cited, feats)

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
    # The claim of a step: its own piece of the question, plus the shared tail when the piece says little by itself
    # ("Do the A article and the B article both report that ...?"); the report wording itself is dropped.
    piece = plan.claims[i] if i < len(plan.claims) else ""
    tail = plan.claims[-1] if plan.claims else ""
    own = re.sub(rf"\b(?:{_REPORT_WORDS})\b", " ", piece, flags=re.I)
    text = own if len(content_words(own)) >= MIN_OWN_CLAIM_WORDS or piece == tail else f"{own} {tail}"
    return re.sub(rf"\b(?:{_REPORT_WORDS})\b", " ", text, flags=re.I).strip() or plan.question


_REPORT_WORDS = ("article|articles|report|reports|reported|piece|feature|published|publication|source|suggest|"
                 "suggests|indicate|indicates|both|does|did|do|the|and|while|whereas")


def _each_says(cited: list[Evidence]) -> str:
    names = [e.passage.source or e.passage.title for e in cited if e.passage is not None]
    return ("both reports say so." if len(names) == 2 and len(set(names)) == 1
            else f"{' and '.join(dict.fromkeys(names))} each say so.")


# Names in the question the reports must mention: quoted titles and capitalised multi-word names.
_QUOTED = re.compile(r"[\"“]([^\"”]{3,60})[\"”]")
_PROPER = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][a-z]+(?:[-\s][A-Z][a-z]+){1,3})\b")


def absent_names(question: str, known: list[str], in_store) -> list[str]:
    """Multi-word names the question relies on of which no word occurs in any stored article.

    A question about a person or work the store has no report on ("Zhemu Soda's environmental initiatives") cannot
    be answered whichever passage ranks first.

    Args:
        question: the question.
        known: spans that are not names to check (the publications the plan recognised).
        in_store: word -> whether any stored passage contains it (e.g. a keyword-index lookup).
    """
    skip = " ".join(known).casefold()
    names = [m.group(1) for m in _QUOTED.finditer(question)] + [m.group(1) for m in _PROPER.finditer(question)]
    out = []
    for n in dict.fromkeys(names):
        if n.casefold() in skip:
            continue
        words = [w for w in content_words(n) if len(w) > 2]
        if words and not any(in_store(w) for w in words):
            out.append(n)
    return out


# NER'd passages: the same reports come back for related questions (and for the steps of one question).
_DOCS: LRU[str, object] = LRU(2048)


def _passage_docs(texts: list[str]) -> list:
    def run(missing: list[str]) -> list:
        with NLP_LOCK:
            return list(nlp().pipe(missing, disable=["parser", "lemmatizer"]))

    return _DOCS.get_many(texts, run)


class MultiHopComponent:
    """The multi-article answerer behind the Answerer protocol: drafts from a turn's plan and per-step passages."""

    mode = "multihop"
    timing_key = "extract"

    def __init__(self, embedder: Embedder, planner, in_store=None):
        """Args:
        embedder: for sentence vectors.
        planner: query -> qa.plan.Plan (the Asker's, over the publications stored now), for `run`.
        in_store: word -> whether any stored article contains it.
        """
        self.answerer = MultiHopAnswerer(embedder, in_store=in_store)
        self.planner = planner

    def run(self, query: str, passages: list[Passage]) -> Draft:
        """Plan `query` and answer it with `passages` as every step's evidence (the chain uses `stream_turn`)."""
        plan = self.planner(query)
        return self._draft(plan, PlanRetrieval(passages, [passages for _ in plan.steps] + [passages]), passages)

    def stream_turn(self, turn: Turn):
        """The Draft for a turn prepared with a plan; its sentences are numbered into `turn.passages` (a cited
        passage that only its step found is added there)."""
        t = time.perf_counter()
        draft = self._draft(turn.plan, PlanRetrieval(turn.passages, turn.groups), turn.passages)
        turn.timings["extract"] = time.perf_counter() - t
        yield draft

    def _draft(self, plan: Plan, retrieval: PlanRetrieval, passages: list[Passage]) -> Draft:
        return self.draft(self.answerer.run(plan, retrieval), passages)

    def draft(self, result: MultiHopResult, passages: list[Passage]) -> Draft:
        """The Draft of a MultiHopResult, its sentences numbered into `passages` (extended where needed)."""
        if result.refused:
            return Draft(refused=True, reason=result.reason, mode=self.mode)
        pairs = [(sent, result.passages[n - 1]) for sent, n in result.sentences]
        return Draft(sentences=number_sentences(pairs, passages), short_answer=result.short_answer, lead=result.lead,
                     mode=self.mode)


def number_sentences(pairs: list[tuple[str, Passage]], passages: list[Passage]) -> list[tuple[str, int]]:
    """(sentence, 1-based number in `passages`) for each (sentence, its passage); a passage that only its step found
    is appended to `passages`, so the numbers stay valid for the citation checker."""
    ids = [p.id for p in passages]
    out = []
    for sent, p in pairs:
        if p.id not in ids:
            passages.append(p)
            ids.append(p.id)
        out.append((sent, ids.index(p.id) + 1))
    return out
