"""Question analysis for questions about several articles: named sources, dates, claims, answer kind, retrieval plan."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Literal

from qa.dates import MONTHS, shift

AnswerKind = Literal["yes_no", "before_after", "which", "name", "other"]

# Words that name a report. A publication is recognised when one of them sits next to it ("the TechCrunch article",
# "a report by Wired", "according to The Verge"). Counts on multihop-rag-dev (767 questions): "article" 642,
# "report"/"reports"/"reported" 452, "piece" 19, "feature" 4, "story" 5, "review" 3, "coverage" 6, "post" 2.
REPORT_NOUN = r"(?:article|report|piece|feature|story|review|coverage|post|segment|column|analysis|interview)s?"
# Phrases that bind a publication to a claim: "reported by X", "according to X", "as per X", "X reported".
# Counts on multihop-rag-dev: "according to" 108, "reported by" 131, "as reported by" 66, "as per" 10.
_BY = (r"(?:reported|published|covered|written|detailed|discussed|mentioned|noted|highlighted|described|stated)"
       r"\s+(?:by|in)")
_WORD = r"[A-Z0-9][\w.&'’-]*[\w.&]"
_CAPSEQ = rf"(?:The\s+)?{_WORD}(?:\s+(?:of\s+|and\s+|the\s+|\|\s+|-\s+)?{_WORD})*"
# Unknown publications (names the store has no article from): a capitalised name directly before a report noun,
# or after "according to"/"reported by"/"article from|in|by".
_UNKNOWN_PUB = [
    re.compile(rf"\b(?:a|an|the|another|one)\s+(?P<name>{_CAPSEQ})\s+{REPORT_NOUN}\b"),
    re.compile(rf"\b{REPORT_NOUN}\s+(?:from|in|by|published\s+by)\s+(?P<name>{_CAPSEQ})(?=[\s,.;?]|$)"),
    re.compile(rf"\b(?:according\s+to|{_BY}|as\s+per)\s+(?P<name>{_CAPSEQ})(?=[\s,.;?]|$)"),
]
# Cues that a question is about more than one report even when only one publication is named: counts on
# multihop-rag-dev questions naming exactly one publication (n=225): "both" 31, "another"/"other" 47,
# "same source/publication/outlet" 38, "later"/"earlier"/"subsequent"/"previous" 71, "between" 58, plural "articles"/
# "reports" 29. None of these occur in the 98 RealTimeQA, 248 SQuAD or 34 bundled questions together with a named
# publication (a plan is only built when at least one stored publication is named).
_MULTI_CUE = re.compile(
    r"\b(?:both|another|other|same\s+(?:source|publication|outlet|news\s+source)|later|earlier|subsequent|previous|"
    r"prior|between|articles|reports|respectively|while|whereas|compared|than|consistent|change[ds]?|align)\b",
    re.IGNORECASE,
)
# Answer kinds, by how the question opens and what it contrasts. Counts on multihop-rag-dev: questions opening with
# an auxiliary (Do/Does/Did/Is/Was/Are/Has/Have/Were) 431, of which 429 have a yes/no-type gold answer; "before or
# after"/"earlier or later" 0 here but the issue names them; "Which/What/Who ..." 246, 240 of them inference.
_AUX = re.compile(r"^\s*(?:do|does|did|is|was|are|were|has|have|had|can|could|would|will|should)\b", re.IGNORECASE)
_BEFORE_AFTER = re.compile(r"\b(?:before\s+or\s+after|after\s+or\s+before|earlier\s+or\s+later|later\s+or\s+earlier)\b",
                           re.IGNORECASE)
_WH = re.compile(r"^\s*(?:which|what|who|whom|whose|name)\b", re.IGNORECASE)
_EMBEDDED_AUX = re.compile(
    r"(?:^|[,;]\s+|\band\s+)(?:do|does|did|is|was|are|were|has|have|had)\s+(?:the|a|an|there|both|this|that|it|"
    r"[A-Z])", re.IGNORECASE)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MDY = re.compile(r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True))
                  + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.IGNORECASE)


@dataclass
class SourceMention:
    """A publication the question names: where, as written, and the stored sources it stands for."""

    text: str
    start: int
    end: int
    sources: list[str] = field(default_factory=list)  # stored source names; empty = no article from it is stored


@dataclass
class Step:
    """One sub-query of the plan with its own source and publish-date restriction."""

    query: str
    label: str  # what the step looks for, for the Details panel ("TechCrunch, 2023-11-18")
    sources: list[str] = field(default_factory=list)  # any of these (empty = any source)
    since: dt.date | None = None
    until: dt.date | None = None
    required: bool = True  # the answer needs evidence from this step


@dataclass
class Plan:
    """What a question asks and how to find it."""

    question: str
    multi_article: bool
    answer_kind: AnswerKind
    mentions: list[SourceMention] = field(default_factory=list)
    unknown_sources: list[str] = field(default_factory=list)  # named publications with no stored article
    dates: list[dt.date] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready view (dates as ISO strings), for `--json` and the Details panel."""
        d = asdict(self)
        d["dates"] = [x.isoformat() for x in self.dates]
        for s in d["steps"]:
            s["since"] = s["since"].isoformat() if s["since"] else None
            s["until"] = s["until"].isoformat() if s["until"] else None
        return d


def source_aliases(source: str) -> set[str]:
    """Ways a question may write a stored source name: whole, before a " | ", " - " or ": " tagline, without "The",
    without ".com" ("Cnbc | World Business News Leader" -> "Cnbc"; "CBSSports.com" -> "CBSSports")."""
    out = {source}
    for sep in (" | ", " - ", ": "):
        if sep in source:
            out.add(source.split(sep)[0])
    for a in list(out):
        out.add(re.sub(r"^the\s+", "", a, flags=re.IGNORECASE))
        out.add(re.sub(r"\.com$", "", a, flags=re.IGNORECASE))
    return {a.strip() for a in out if len(a.strip()) >= 3}


class QuestionPlanner:
    """Turns a question into a Plan over the publications a store holds. Create once per store (cheap)."""

    def __init__(self, sources: list[str]):
        alias: dict[str, set[str]] = {}
        for s in sources:
            if s:
                for a in source_aliases(s):
                    alias.setdefault(a.casefold(), set()).add(s)
        self.alias = alias
        # Longest alias first, so "The Independent - Life and Style" wins over "The Independent".
        names = sorted(alias, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<![\w])(?:the\s+)?(" + "|".join(re.escape(n) for n in names) + r")(?![\w])", re.IGNORECASE
        ) if names else None

    def run(self, question: str) -> Plan:
        """Analyse a question.

        Returns:
            A Plan; `multi_article` is False (and the steps empty) unless the question names at least one publication
            and either names two or carries a cue that it is about more than one report.
        """
        mentions = self._known_mentions(question)
        unknown = self._unknown_mentions(question, mentions)
        dates = question_dates(question)
        named = len(mentions) + len(unknown)
        distinct = len({tuple(m.sources) for m in mentions}) + len({m.text.casefold() for m in unknown})
        multi = named >= 1 and (distinct >= 2 or bool(_MULTI_CUE.search(question)) or len(dates) >= 2)
        kind = answer_kind(question)
        plan = Plan(question=question, multi_article=multi, answer_kind=kind, mentions=mentions + unknown,
                    unknown_sources=list(dict.fromkeys(m.text for m in unknown)), dates=dates)
        if multi:
            plan.claims = split_claims(question, mentions + unknown)
            plan.steps = build_steps(question, mentions, dates, plan.claims)
        return plan

    def _known_mentions(self, question: str) -> list[SourceMention]:
        if self._pattern is None:
            return []
        out = []
        for m in self._pattern.finditer(question):
            name = m.group(1)
            # A bare capitalised word that is also an ordinary word ("Fortune", "Wired") counts only next to a report
            # noun or a "by/according to" phrase, or written capitalised, as publications are.
            if not name[:1].isupper():
                continue
            out.append(SourceMention(m.group(0), m.start(), m.end(), sorted(self.alias[name.casefold()])))
        return out

    def _unknown_mentions(self, question: str, known: list[SourceMention]) -> list[SourceMention]:
        out: list[SourceMention] = []
        for pattern in _UNKNOWN_PUB:
            for m in pattern.finditer(question):
                start, end = m.span("name")
                name = m.group("name").strip(" ,.;:'’")
                if any(k.start < end and start < k.end for k in known) or any(u.start == start for u in out):
                    continue
                if _not_a_publication(name):
                    continue
                out.append(SourceMention(name, start, start + len(name), []))
        return out


def _not_a_publication(name: str) -> bool:
    # Capitalised words before "article" that are topics, not publishers: a sentence-initial word, a single common
    # word, or a date ("the November 2023 report").
    bare = re.sub(r"^the\s+", "", name, flags=re.IGNORECASE)
    if re.search(r"['’]s?$", bare):  # "Google's", "Epic Games'": what a report is about, not who published it
        return True
    if not bare or bare.casefold() in {"same", "first", "second", "latter", "former", "earlier", "later", "other",
                                       "this", "that", "one", "previous", "subsequent", "recent", "new", "latest"}:
        return True
    if re.match(r"^(?:" + "|".join(MONTHS) + r")\b", bare, re.IGNORECASE) or re.match(r"^\d", bare):
        return True
    return False


def question_dates(question: str) -> list[dt.date]:
    """Full dates the question names ("November 18, 2023", "2023-10-02"), in order of appearance."""
    return [d for _, d in _dates_by_position(question)]


def answer_kind(question: str) -> AnswerKind:
    """What kind of answer the question wants: yes/no, before/after, which one of named options, a name, other."""
    if _BEFORE_AFTER.search(question):
        return "before_after"
    if _AUX.match(question):
        return "yes_no"
    if _WH.match(question):
        return "name"
    # "Between the report A and the report B, was there a change ...?": the auxiliary follows a leading clause.
    if _EMBEDDED_AUX.search(question) and question.rstrip().endswith("?"):
        return "yes_no"
    return "other"


def split_claims(question: str, mentions: list[SourceMention]) -> list[str]:
    """The question cut into one piece of text per named publication: from just after one mention to the next; the
    text before the first and after the last belongs to every piece (it states what all of them should say)."""
    ordered = sorted(mentions, key=lambda m: m.start)
    if not ordered:
        return [question]
    pieces = []
    for i, m in enumerate(ordered):
        end = ordered[i + 1].start if i + 1 < len(ordered) else len(question)
        pieces.append(re.sub(r"\s+", " ", question[m.end:end]).strip(" ,;:?"))
    return pieces


def build_steps(question: str, mentions: list[SourceMention], dates: list[dt.date], claims: list[str]) -> list[Step]:
    """One step per named stored publication (its claim text plus the whole question, that publication only, on the
    date written next to it), and one per extra date named for an already-named publication."""
    ordered = sorted(mentions, key=lambda m: m.start)
    base = _without_mentions(question, ordered)
    date_at = _dates_by_position(question)
    steps: list[Step] = []
    for i, m in enumerate(ordered):
        nxt = ordered[i + 1].start if i + 1 < len(ordered) else len(question)
        prev = ordered[i - 1].end if i else 0
        # The date written with a mention: right after it (before the next mention), else just before it.
        day = next((d for pos, d in date_at if m.end <= pos < nxt), None) or next(
            (d for pos, d in reversed(date_at) if prev <= pos < m.start), None)
        claim = claims[i] if i < len(claims) else ""
        label = m.sources[0] if len(m.sources) == 1 else m.text
        steps.append(Step(
            query=f"{claim} {base}".strip(), label=label + (f", {day.isoformat()}" if day else ""),
            sources=m.sources, since=shift(day, -1) if day else None, until=shift(day, 1) if day else None,
        ))
    used = {(tuple(s.sources), s.since) for s in steps}
    for pos, day in date_at:  # "... The Sydney Morning Herald ... on October 1 ... and the one from November 5"
        owner = next((m for m in reversed(ordered) if m.start < pos), ordered[0] if ordered else None)
        if owner is None:
            continue
        key = (tuple(owner.sources), shift(day, -1))
        if key not in used and not any(s.since and abs((s.since - key[1]).days) <= 0 for s in steps
                                       if tuple(s.sources) == key[0]):
            used.add(key)
            steps.append(Step(query=base, label=f"{owner.sources[0] if owner.sources else owner.text}, "
                              f"{day.isoformat()}", sources=owner.sources, since=key[1],
                              until=shift(day, 1)))
    return steps


def _dates_by_position(question: str) -> list[tuple[int, dt.date]]:
    found = []
    for m in _ISO.finditer(question):
        try:
            found.append((m.start(), dt.date(int(m[1]), int(m[2]), int(m[3]))))
        except ValueError:
            pass
    for m in _MDY.finditer(question):
        try:
            found.append((m.start(), dt.date(int(m[3]), MONTHS[m[1].lower().rstrip(".")], int(m[2]))))
        except (ValueError, KeyError):
            pass
    return sorted(found)


def _without_mentions(question: str, mentions: list[SourceMention]) -> str:
    out, last = [], 0
    for m in mentions:
        out.append(question[last:m.start])
        last = m.end
    out.append(question[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip()
