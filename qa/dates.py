"""Date handling: publish-date filters from question phrases, and relative day words resolved against a publish date."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# One date expression: ISO day, "September 4(, 2025)", "4 September( 2025)", "September( 2025)", "2025".
_DATE = (
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?|{_MONTH}(?:,?\s+\d{{4}})?|(?:19|20)\d{{2}})"
)
# A single day: "September 4(, 2025)", "4(th) (of) September( 2025)", "2025-09-04".
_DAY = (
    rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?|\d{{4}}-\d{{2}}-\d{{2}}"
)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30, "year": 365, "years": 365}
_NUMBER_WORDS = {
    "a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "few": 3, "couple of": 2,
}

Range = tuple[date | None, date | None, str]
_SPAN = (date.max - date.min).days


def shift(d: date, days: int) -> date:
    """`d` moved by `days`, clamped to the calendar (year 1 to 9999): "the past 99999999999 years" or an article
    dated 0001-01-01 that says "yesterday" must not overflow.

    Args:
        d: a day.
        days: days to add (negative: subtract), any size.
    Returns:
        The day, or date.min / date.max when it falls outside the calendar.
    """
    try:
        return d + timedelta(days=max(-_SPAN, min(_SPAN, days)))
    except OverflowError:
        return date.min if days < 0 else date.max


def question_date_range(question: str, reference: date) -> Range:
    """Turn the first date phrase of a question into an inclusive publish-date filter.

    Args:
        question: the user's question.
        reference: the day relative phrases ("last week") count from, usually today.
    Returns:
        (start, end, phrase): inclusive bounds (None = open) and the phrase as written in the question,
        or (None, None, "") when the question has no date phrase.
    """
    for pattern, handler in _RULES:
        m = re.search(pattern, question, flags=re.IGNORECASE)
        if not m:
            continue
        try:
            bounds = handler(m, reference)
        except (OverflowError, ValueError):  # a phrase outside the calendar ("last year" of year 1) filters nothing
            bounds = None
        if bounds is not None:
            return bounds[0], bounds[1], m.group(0).strip()
    return None, None, ""


def strip_date_phrase(question: str, phrase: str) -> str:
    """Remove a date phrase from a question so retrieval does not match on its words.

    Args:
        question: the question.
        phrase: what `question_date_range` returned as the phrase ("" leaves the question unchanged).
    Returns:
        The question without the phrase, spaces and punctuation tidied.
    """
    if not phrase:
        return question
    out = re.sub(re.escape(phrase), " ", question, count=1, flags=re.IGNORECASE)
    out = re.sub(r"\s+", " ", out).strip()
    out = re.sub(r"\s+([?.!,;:])", r"\1", out)
    out = re.sub(r"^[,;:]\s*|,\s*(?=[?.!]$)", "", out)
    return out if re.search(r"\w", out) else question


def parse_date_expression(text: str, reference: date) -> tuple[date, date] | None:
    """The period a date expression denotes, e.g. "September 2025" -> (1 Sep, 30 Sep).

    Args:
        text: an ISO day, "September 4(, 2025)", "4 September 2025", "September( 2025)", or a year.
        reference: a month or day without a year means its most recent occurrence not after this day.
    Returns:
        Inclusive (first day, last day), or None when the text is not a date.
    """
    t = text.strip().lower().replace(",", " ")
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t)
    t = re.sub(r"\bof\b|\.", " ", t)
    parts = t.split()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            d = date.fromisoformat(t)
            return d, d
        if len(parts) == 1 and parts[0].isdigit() and len(parts[0]) == 4:
            y = int(parts[0])
            return date(y, 1, 1), date(y, 12, 31)
        month = next((MONTHS[p] for p in parts if p in MONTHS), None)
        if month is None:
            return None
        nums = [int(p) for p in parts if p.isdigit()]
        year = next((n for n in nums if n > 31), None)
        day = next((n for n in nums if n <= 31), None)
        if day is None:
            y = year if year is not None else (reference.year if month <= reference.month else reference.year - 1)
            return date(y, month, 1), date(y, month, calendar.monthrange(y, month)[1])
        if year is None:
            year = reference.year if (month, day) <= (reference.month, reference.day) else reference.year - 1
        d = date(year, month, day)
        return d, d
    except ValueError:  # e.g. "February 30"
        return None


def format_day(d: date) -> str:
    """A day as news prose writes it: "4 September 2025"."""
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


def weekday_date(weekday: str, published: date, future: bool = False) -> date | None:
    """The day a weekday name refers to in an article published on `published`.

    The same weekday as the publish day means the publish day itself; otherwise the most recent one before it
    (or the next one after it when `future`, e.g. "will meet on Monday").
    """
    target = WEEKDAYS.get(weekday.lower())
    if target is None:
        return None
    delta = (published.weekday() - target) % 7
    if future:
        return shift(published, (target - published.weekday()) % 7)
    return shift(published, -delta)


# A weekday (optionally "late"/"early" before it and a part of day after it), or a day word. Possessives
# ("today's great status") are left alone: they rarely mean a calendar day.
_RELATIVE = re.compile(
    rf"\b(?:(?:late|early|earlier|later)\s+(?:on\s+)?)?(?P<wd>{_WEEKDAY})(?:\s+(?:morning|afternoon|evening|night))?\b(?!['’]s)"
    r"|\b(?P<rel>yesterday|today|tonight|tomorrow|last\s+night)\b(?!['’]s)",
    re.IGNORECASE,
)
# What already pins the day down right after the phrase: "(4 September)", ", Sept. 4", " 4 September".
_EXPLICIT_AFTER = re.compile(
    rf"^\s*(?:\(|,?\s*{_MONTH}\s+\d|,?\s*\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}|,?\s*\d{{4}}-)", re.I
)
# "every Tuesday", "each other Friday", "every second Monday": a recurring day, not one date.
_RECURRING_BEFORE = re.compile(
    r"\b(?:every|each)(?:\s+(?:other|second|third|fourth|last|first|single|coming))?\s+$", re.IGNORECASE
)
_FUTURE_CUE = re.compile(r"\b(?:will|next|scheduled|due to|plans? to|expected to|is to|are to|until)\b", re.I)
_REL_OFFSETS = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1, "last night": -1}


def resolve_relative_dates(sentence: str, published: date) -> str:
    """Annotate relative day words with the calendar day they mean, for display and LLM context.

    "on Thursday" in an article published Friday 5 September 2025 becomes "on Thursday (4 September 2025)".
    The result is NOT a verbatim quote: cite the original sentence.

    Args:
        sentence: text from an article.
        published: the article's publish date.
    Returns:
        The sentence with " (D Month YYYY)" after each relative day phrase not already followed by a date.
    """
    out: list[str] = []
    last = 0
    for m in _RELATIVE.finditer(sentence):
        if _EXPLICIT_AFTER.match(sentence[m.end() : m.end() + 40]):
            continue
        if _RECURRING_BEFORE.search(sentence[max(0, m.start() - 40) : m.start()]):
            continue  # a recurring day has no single calendar date
        if m.group("wd"):
            prefix = sentence[max(0, m.start() - 60) : m.start()]
            when = weekday_date(m.group("wd"), published, future=bool(_FUTURE_CUE.search(prefix)))
        else:
            key = re.sub(r"\s+", " ", m.group("rel").lower())
            when = shift(published, _REL_OFFSETS[key])
        if when is None:
            continue
        out.append(sentence[last : m.end()] + f" ({format_day(when)})")
        last = m.end()
    out.append(sentence[last:])
    return "".join(out)


# --- question phrase rules: (regex, handler returning (start, end) or None) ------------------------------------


def _week_start(d: date) -> date:
    return shift(d, -d.weekday())


def _month_bounds(y: int, m: int) -> tuple[date, date]:
    return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])


def _between(m: re.Match[str], ref: date) -> tuple[date, date] | None:
    first, second = m.group(1), m.group(2)
    year = re.search(r"\b(?:19|20)\d{2}\b", second)
    if year and not re.search(r"\b(?:19|20)\d{2}\b", first):  # "between September 1 and 5 September 2025"
        first = f"{first} {year.group(0)}"
    a, b = parse_date_expression(first, ref), parse_date_expression(second, ref)
    if not a or not b:
        return None
    return (a[0], b[1]) if a[0] <= b[1] else (b[0], a[1])


def _past_n(m: re.Match[str], ref: date) -> tuple[date, date]:
    raw = m.group(1).lower()
    n = int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw, 1)
    # "the past 7 days" is today and the 6 days before it.
    return shift(ref, -max(0, n * _UNITS[m.group(2).lower()] - 1)), ref


def _since(m: re.Match[str], ref: date) -> tuple[date | None, date | None] | None:
    d = parse_date_expression(m.group(1), ref)
    return (d[0], None) if d else None


def _before(m: re.Match[str], ref: date) -> tuple[date | None, date | None] | None:
    d = parse_date_expression(m.group(1), ref)
    return (None, shift(d[0], -1)) if d else None


def _after(m: re.Match[str], ref: date) -> tuple[date | None, date | None] | None:
    d = parse_date_expression(m.group(1), ref)
    return (shift(d[1], 1), None) if d else None


def _on_or_in(m: re.Match[str], ref: date) -> tuple[date, date] | None:
    return parse_date_expression(m.group(1), ref)


def _last_month(_: re.Match[str], ref: date) -> tuple[date, date]:
    prev = shift(ref.replace(day=1), -1)
    return _month_bounds(prev.year, prev.month)


_NUM = r"(\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|few|couple of)"
# Order matters: longer, more specific phrases first ("in the past 3 days" before "in 2025" etc.).
_RULES = [
    (rf"\bbetween\s+({_DATE})\s+and\s+({_DATE})", _between),
    (rf"\b(?:in|over|during|within)\s+the\s+(?:past|last)\s+{_NUM}\s+(days?|weeks?|months?|years?)\b", _past_n),
    (rf"\b(?:past|last)\s+{_NUM}\s+(days?|weeks?|months?|years?)\b", _past_n),
    (rf"\bsince\s+({_DATE})(?![\w-])", _since),
    (rf"\bbefore\s+({_DATE})(?![\w-])", _before),
    (rf"\bafter\s+({_DATE})(?![\w-])", _after),
    (rf"\bon\s+({_DAY})(?![\w-])", _on_or_in),
    (rf"\b(?:in|during)\s+({_MONTH}(?:,?\s+\d{{4}})?|(?:19|20)\d{{2}})(?![\w-])", _on_or_in),
    (r"\blast\s+week\b", lambda _, r: (shift(_week_start(r), -7), shift(_week_start(r), -1))),
    (r"\bthis\s+week\b", lambda _, r: (_week_start(r), r)),
    (r"\blast\s+month\b", _last_month),
    (r"\bthis\s+month\b", lambda _, r: (r.replace(day=1), r)),
    (r"\blast\s+year\b", lambda _, r: (date(r.year - 1, 1, 1), date(r.year - 1, 12, 31))),
    (r"\bthis\s+year\b", lambda _, r: (date(r.year, 1, 1), r)),
    (r"\byesterday\b", lambda _, r: (shift(r, -1), shift(r, -1))),
    (r"\btoday\b", lambda _, r: (r, r)),
]
