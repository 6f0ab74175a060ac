"""Follow-up question rewriting: turn "And the daughter?" into a self-contained retrieval query."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from articleqa.settings import Settings
from articleqa.text import MARKER_GROUP, NLP_LOCK, nlp

MAX_TURNS = 3  # older turns rarely hold the referent and only add wrong candidates
MAX_TEXT = 1200  # characters of one history entry looked at; answers are at most a few sentences

_CITATION = re.compile(r"\s*" + MARKER_GROUP.pattern)
_SPACE = re.compile(r"\s+")
_CONJUNCTION = re.compile(r"^(?:and|but|so|also|ok(?:ay)?|then)\b[\s,]*", re.IGNORECASE)
_ELLIPSIS = re.compile(r"^(?:(?:and\s+)?(?:what|how)\s+about|and)\s+(?P<focus>[^?]+?)\s*\??$", re.IGNORECASE)
_WH = re.compile(r"^(?P<wh>how come|how much|how many|why|when|where|how|who|what)\b(?P<rest>[^?]*)\??$", re.IGNORECASE)
_WH_WORDS = {"who", "whom", "whose", "what", "which", "when", "where", "why", "how"}
_AUX = {"did", "does", "do", "is", "was", "are", "were", "has", "have", "had", "will", "would", "can", "could",
        "should"}
# Words a bare wh-question may carry and still mean "about the previous question" ("When did that happen?").
_VAGUE = {"did", "does", "do", "was", "is", "were", "are", "has", "had", "have", "that", "this", "it", "happen",
          "happened", "happens", "so", "exactly", "then", "take", "took", "place", "occur", "occurred", "not", "again"}
_FEMALE_CUES = {"sister", "daughter", "wife", "mother", "ms", "mrs", "miss", "madam", "queen", "woman", "girl", "lady",
                "grandmother", "aunt", "niece", "actress", "chairwoman", "spokeswoman", "congresswoman", "princess",
                "empress", "businesswoman", "widow", "girlfriend", "first lady", "she"}
_MALE_CUES = {"brother", "son", "husband", "father", "mr", "king", "man", "boy", "grandfather", "uncle", "nephew",
              "chairman", "spokesman", "congressman", "prince", "emperor", "businessman", "widower", "boyfriend"}
_RELATIONAL = {"daughter", "son", "sister", "brother", "wife", "husband", "mother", "father", "family", "children",
               "child", "kids", "parents", "spouse", "aide", "aides", "delegation", "entourage", "bodyguards",
               "spokesman", "spokeswoman", "spokesperson", "government", "party", "team", "lawyer", "lawyers"}
_ENTITY_LABELS = {"PERSON", "GPE", "ORG", "NORP", "LOC", "FAC", "EVENT"}
_PRONOUNS = {
    "he": "m", "him": "m", "his": "m", "himself": "m",
    "she": "f", "her": "f", "hers": "f", "herself": "f",
    "they": "plural", "them": "plural", "their": "plural", "theirs": "plural",
    "there": "place",
}
_DO_SUPPORT = {"VBD": "did", "VBZ": "does", "VBP": "do"}
_PLACE_LABELS = {"GPE", "LOC", "FAC"}
_GROUP_LABELS = {"ORG", "NORP", "GPE"}


def strip_citations(text: str) -> str:
    """Remove ``[n]``, ``[1][2]`` and ``[1, 2]`` markers.

    :param text: an answer with citation markers.
    :returns: the text without them, spacing tidied.
    """
    return _SPACE.sub(" ", _CITATION.sub("", text)).strip()


@dataclass(frozen=True)
class Token:
    """What the rules need of a token."""

    text: str
    tag: str  # Penn tag ("" without spaCy)
    lemma: str
    start: int  # character offset


@dataclass(frozen=True)
class Mention:
    """A named entity seen in the conversation or the question."""

    text: str
    label: str  # spaCy label, "" when unknown
    start: int
    gender: str | None = None  # "f", "m" or None when the text gives no cue


@dataclass(frozen=True)
class Analysis:
    """Tokens and named entities of one text."""

    tokens: tuple[Token, ...]
    mentions: tuple[Mention, ...]


def _nlp() -> Any:
    """The shared spaCy pipeline (its parser is skipped here: NER, tags and lemmas are enough), or None."""
    try:
        return nlp()
    except (ImportError, OSError):
        return None


_FALLBACK_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
_FALLBACK_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*")


@functools.lru_cache(maxsize=512)
def analyse(text: str) -> Analysis:
    """Tokens and entities of a text, cached because history turns are analysed again on every question.

    :param text: any short text.
    :returns: the analysis (regex-based when spaCy is not installed).
    """
    pipeline = _nlp()
    if pipeline is None:
        tokens = tuple(Token(m.group(), "", m.group().lower(), m.start()) for m in _FALLBACK_TOKEN.finditer(text))
        mentions = tuple(Mention(m.group(), "", m.start()) for m in _FALLBACK_NAME.finditer(text))
    else:
        with NLP_LOCK:
            doc = pipeline(text, disable=["parser"])
        tokens = tuple(Token(t.text, t.tag_, t.lemma_, t.idx) for t in doc)
        mentions = tuple(
            Mention(e.text, e.label_, e.start_char) for e in doc.ents if e.label_ in _ENTITY_LABELS
        )
    return Analysis(tokens, tuple(_with_gender(text, m) for m in mentions))


def _with_gender(text: str, mention: Mention) -> Mention:
    """Gender from the words right before a name ("his sister Kim Yo Jong", "Mr Lee")."""
    if mention.label not in ("PERSON", ""):
        return mention
    before = re.findall(r"[a-z]+", text[max(0, mention.start - 30) : mention.start].lower())[-3:]
    if any(w in _FEMALE_CUES for w in before):
        return Mention(mention.text, mention.label, mention.start, "f")
    if any(w in _MALE_CUES for w in before):
        return Mention(mention.text, mention.label, mention.start, "m")
    return mention


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _sans_q(text: str) -> str:
    return text.rstrip(" ?.!")


def _subject_wh(question: str) -> tuple[str, str, str] | None:
    """For "Who/What <finite verb> ...?" the do-support pieces: ("did", "accompany", " Kim?")."""
    tokens = analyse(question).tokens
    if len(tokens) < 3 or tokens[0].text.lower() not in ("who", "what") or tokens[1].tag not in _DO_SUPPORT:
        return None
    verb = tokens[1]
    return _DO_SUPPORT[verb.tag], verb.lemma, question[verb.start + len(verb.text) :]


def _is_proper(phrase: str) -> bool:
    return any(w[:1].isupper() for w in phrase.split() if w.lower() not in {"the", "a", "an"})


class QueryRewriter:
    """Rewrites follow-up questions into self-contained retrieval queries, by rules over spaCy's analysis (no LLM)."""

    def __init__(self, settings: Settings) -> None:
        """Set up the rewriter; spaCy loads lazily on the first follow-up."""
        self.settings = settings

    def warm(self) -> None:
        """Load spaCy now (about 2 s) instead of on the first follow-up."""
        analyse("Warm up with Kim in Beijing.")

    def run(self, question: str, history: list[tuple[str, str]]) -> str:
        """A self-contained query for retrieval.

        :param question: the user's latest question.
        :param history: earlier (question, answer) turns, oldest first; answers may carry [n] markers.
        :returns: the rewritten query, or ``question`` unchanged when it does not depend on the conversation.
        """
        question = _SPACE.sub(" ", question).strip()
        turns = [(strip_citations(q)[:MAX_TEXT], strip_citations(a)[:MAX_TEXT]) for q, a in history[-MAX_TURNS:]]
        if not question or not turns or not looks_like_follow_up(question):
            return question
        return self.rules(question, turns)

    # --- rules -------------------------------------------------------------------------------------------

    def rules(self, question: str, turns: list[tuple[str, str]], depth: int = 0) -> str:
        """Rule-based rewrite (no LLM).

        :param question: the latest question.
        :param turns: earlier turns without citation markers, oldest first.
        :param depth: recursion guard (previous questions are themselves resolved first).
        :returns: the rewritten or unchanged question.
        """
        if not turns:
            return question
        previous = self._previous_question(turns, depth)
        ellipsis = _ELLIPSIS.match(question)
        if ellipsis and not self._is_full_question(ellipsis.group("focus")):
            return self._swap_focus(ellipsis.group("focus").strip(" ,"), previous, turns)
        core = _CONJUNCTION.sub("", question)  # "And why did he go?" is handled as "why did he go?"
        bare = _WH.match(core)
        if bare and set(_words(bare.group("rest"))) <= _VAGUE:
            return self._wh_on_previous(bare.group("wh"), previous, turns)
        resolved = self._resolve_pronouns(core, turns, previous)
        return resolved[:1].upper() + resolved[1:] if resolved != core else question

    def _previous_question(self, turns: list[tuple[str, str]], depth: int) -> str:
        prev_q = turns[-1][0]
        if depth >= MAX_TURNS or not looks_like_follow_up(prev_q):
            return prev_q
        return self.rules(prev_q, turns[:-1], depth + 1)

    @staticmethod
    def _is_full_question(focus: str) -> bool:
        first = _words(focus)[:1]
        return bool(first) and (first[0] in _WH_WORDS or first[0] in _AUX)

    def _recent_mentions(self, turns: list[tuple[str, str]]) -> list[Mention]:
        """Named entities of the conversation, most recent first (last answer, last question, earlier turns)."""
        found: list[Mention] = []
        for q, a in reversed(turns):
            for text in (a, q):
                found.extend(reversed(analyse(text).mentions))
        # A gender cue seen on any mention of a name holds for its other mentions.
        cued = {m.text: m.gender for m in found if m.gender}
        return [Mention(m.text, m.label, m.start, m.gender or cued.get(m.text)) for m in found]

    def _swap_focus(self, focus: str, previous: str, turns: list[tuple[str, str]]) -> str:
        """ "And X?" / "What about X?": the previous question about X instead of its own focus."""
        prev_mentions = analyse(previous).mentions
        if _is_proper(focus):
            label = self._label_of(focus, turns)
            same = [m for m in prev_mentions if m.label == label] if label else []
            target = (same or list(prev_mentions))[:1]
            if target and target[0].text.lower() != focus.lower():
                m = target[0]
                return previous[: m.start] + focus + previous[m.start + len(m.text) :]
            return f"{_sans_q(previous)} — what about {focus}?"
        words = focus.split()
        if words and words[-1].lower() in _RELATIONAL and words[0].lower() in {"the", "his", "her", "their"}:
            owner = self._salient_person(previous, turns)
            if owner:
                focus = f"{owner}'s {' '.join(words[1:])}"
        subject_wh = _subject_wh(previous)
        if subject_wh:  # "Who accompanied Kim?" + "And the daughter?" -> "Did Kim's daughter accompany Kim?"
            aux, lemma, rest = subject_wh
            return f"{aux.capitalize()} {focus} {lemma}{_sans_q(rest)}?"
        return f"{_sans_q(previous)} — what about {focus}?"

    def _label_of(self, focus: str, turns: list[tuple[str, str]]) -> str:
        for m in analyse(f"What about {focus}?").mentions:
            if m.label:
                return m.label
        for m in self._recent_mentions(turns):
            if m.text.lower() == focus.lower() and m.label:
                return m.label
        return ""

    def _salient_person(self, previous: str, turns: list[tuple[str, str]]) -> str | None:
        """The person a relational noun ("the daughter") belongs to: the previous question's, else the latest."""
        for m in analyse(previous).mentions:
            if m.label in ("PERSON", ""):
                return m.text
        for m in self._recent_mentions(turns):
            if m.label in ("PERSON", ""):
                return m.text
        return None

    def _wh_on_previous(self, wh: str, previous: str, turns: list[tuple[str, str]]) -> str:
        """ "Why?" / "When did that happen?": the previous question asked with the new wh-word."""
        wh_cap = wh[:1].upper() + wh[1:].lower()
        tokens = analyse(previous).tokens
        first = tokens[0].text.lower() if tokens else ""
        if first in _AUX:  # "Did Xi meet Kim?" -> "When did Xi meet Kim?"
            return f"{wh_cap} {previous[:1].lower()}{previous[1:]}"
        if first in _WH_WORDS and len(tokens) > 2:
            second = tokens[1]
            if second.text.lower() in _AUX:  # "Why did Xi meet Kim?" -> "When did Xi meet Kim?"
                return f"{wh_cap} {previous[second.start :]}"
            subject_wh = _subject_wh(previous)
            subject = next(iter(analyse(turns[-1][1]).mentions), None)
            if subject_wh and subject is not None:
                # "Who accompanied Kim?" answered "... Kim Yo Jong" -> "When did Kim Yo Jong accompany Kim?"
                aux, lemma, rest = subject_wh
                return f"{wh_cap} {aux} {subject.text} {lemma}{_sans_q(rest)}?"
        return f"{_sans_q(previous)} — {wh.lower()}?"

    def _resolve_pronouns(self, question: str, turns: list[tuple[str, str]], previous: str) -> str:
        """Replace he/she/they/there (and his/her/their) by the latest matching entity of the conversation."""
        analysis = analyse(question)
        own = analysis.mentions
        candidates = self._recent_mentions(turns)
        out: list[str] = []
        cursor = 0
        for token in analysis.tokens:
            kind = _PRONOUNS.get(token.text.lower())
            if kind is None:
                continue
            if kind == "place" and (token.tag == "EX" or token.start == 0):
                continue  # existential "there" ("Is there ...", "There was ..."), not a place
            if any(m.start < token.start and self._fits(m, kind) for m in own):
                continue  # the question names its own referent before the pronoun
            name = self._referent(kind, candidates, previous)
            if name is None:
                continue
            possessive = token.tag == "PRP$" or token.text.lower() in {"his", "their", "theirs", "hers"}
            if token.text.lower() == "her" and not token.tag:
                possessive = False
            out.append(question[cursor : token.start])
            out.append(f"{name}'s" if possessive else ("in " + name if kind == "place" else name))
            cursor = token.start + len(token.text)
        if not out:
            return question
        out.append(question[cursor:])
        return "".join(out)

    @staticmethod
    def _fits(mention: Mention, kind: str) -> bool:
        if kind in ("m", "f"):
            return mention.label in ("PERSON", "") and mention.gender in (kind, None)
        if kind == "place":
            return mention.label in _PLACE_LABELS
        return mention.label in _GROUP_LABELS

    def _referent(self, kind: str, candidates: list[Mention], previous: str) -> str | None:
        if kind == "plural":
            people = [m.text for m in analyse(previous).mentions if m.label in ("PERSON", "")]
            if len(people) >= 2:
                return " and ".join(dict.fromkeys(people))
        if kind in ("m", "f"):
            # Prefer a name cued with the same gender, then one with no cue; never one cued otherwise.
            for want in (kind, None):
                for m in candidates:
                    if m.label in ("PERSON", "") and m.gender == want:
                        return m.text
            return None
        for m in candidates:
            if self._fits(m, kind):
                return m.text
        return None


_FOLLOW_UP_WORDS = set(_PRONOUNS) | {"that", "this", "those", "these", "it", "same", "also", "too", "else", "again"}


def looks_like_follow_up(question: str) -> bool:
    """Cheap test for questions that may depend on the conversation (no spaCy).

    :param question: the user's question.
    :returns: True for pronouns, "And X?", "What about X?", bare wh-words and very short questions.
    """
    words = _words(question)
    if not words:
        return False
    if len(words) <= 3 or _CONJUNCTION.match(question) or _ELLIPSIS.match(question):
        return True
    return any(w in _FOLLOW_UP_WORDS for w in words)
