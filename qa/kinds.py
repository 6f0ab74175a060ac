"""Question kinds: what each one expects of an answer, in one table (read by the extractive answerer)."""

from __future__ import annotations

from dataclasses import dataclass

PERSON_NOUNS = frozenset(
    """sister brother daughter son wife husband mother father child children kid kids family relative cousin uncle
    aunt niece nephew grandson granddaughter grandfather grandmother partner girlfriend boyfriend fiancee friend
    minister official officials president leader leaders spokesperson spokesman spokeswoman envoy ambassador
    diplomat aide aides delegation premier chancellor secretary senator governor mayor king queen prince princess
    general commander officer police witness witnesses journalist reporter lawyer judge ceo chairman chairwoman
    founder member members team coach player scientist doctor author heir successor deputy adviser advisor
    bodyguard""".split()
)
CURRENCY = frozenset(
    "$ € £ ¥ ₩ dollar dollars usd euro euros eur pound pounds sterling yen yuan renminbi rmb won rupee rupees "
    "rouble roubles ruble rubles franc francs peso pesos".split()
)
PROPER = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW"})


@dataclass(frozen=True)
class Kind:
    """What one kind of question ("who", "when", "how many", ...) expects of an answer sentence (the short answer is
    read by the learned span reader, qa/reader.py, which gets `labels` as a feature)."""

    name: str
    labels: frozenset[str]  # entity labels that answer it
    missing: str  # what a refusal says no passage holds: "No passage says {missing}."
    person_nouns: bool = False  # a person noun ("his sister") also answers, and a name is given with it
    currency_fallback: bool = False  # NER misses some amounts: a number next to a currency word or sign answers
    number_fallback: bool = False  # any number the question does not contain answers


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("person", frozenset({"PERSON", "ORG", "NORP"}), "who this was", person_nouns=True),
    Kind("name", PROPER, "the name asked for"),
    Kind("date", frozenset({"DATE", "TIME"}), "when this happened"),
    Kind("number", frozenset({"CARDINAL", "MONEY", "PERCENT", "QUANTITY"}), "the number asked for",
         number_fallback=True),
    Kind("money", frozenset({"MONEY"}), "the amount asked for", currency_fallback=True),
    Kind("duration", frozenset({"DATE", "TIME", "CARDINAL", "QUANTITY"}), "how long or how old", number_fallback=True),
    Kind("place", frozenset({"GPE", "LOC", "FAC", "ORG"}), "where this happened"),
)}
ANY = Kind("", frozenset(), "the answer")  # a question of no particular kind: any sentence may answer
# Which kind a question is: the earliest match in the question wins ("what is the name of ..." is found before these).
KIND_PATTERNS: list[tuple[str, str]] = [
    (r"\bhow\s+many\s+(?:years|months|weeks|days|hours|minutes|decades|centuries)\b", "duration"),
    (r"\bhow\s+(?:many|much)\b", "number"),
    (r"\bwhat\s+(?:percentage|percent|proportion|number|amount|share)\b", "number"),
    # "What was the value of trade ...?" asks for an amount of money even without "how much".
    (r"\b(?:what|which)\s+(?:is|was|are|were|will\s+be)\s+(?:the\s+)?(?:total\s+|annual\s+|average\s+)?"
     r"(?:value|cost|price|worth|budget|salary|revenue|fine|fee)\s+of\b", "money"),
    (r"\b(?:what|which)\s+(?:is|was|are|were|will\s+be)\s+(?:the\s+)?(?:total\s+|annual\s+|average\s+)?"
     r"(?:size|population|score|distance|height|weight|length|speed|temperature|death\s+toll|toll)\s+of\b",
     "number"),
    (r"\bhow\s+(?:long|old)\b", "duration"),
    (r"\b(?:what|which)\s+(?:year|date|day|month|time|century|decade|era|period)\b", "date"),
    (r"\bwhen\b", "date"),
    (r"\b(?:what|which)\s+(?:country|city|place|region|state|province|capital|town|continent|location|area)\b",
     "place"),
    (r"\bwhere\b", "place"),
    (r"\bwho(?:m|se)?\b", "person"),
    (rf"\b(?:what|which)\s+(?:\w+\s+)?(?:{'|'.join(sorted(PERSON_NOUNS))})\b", "person"),
]
