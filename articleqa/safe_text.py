"""Untrusted text made safe: lone surrogates replaced, control characters removed, URLs without credentials,
terminal output escaped."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# C0 controls except tab/LF/CR, DEL, C1 controls, and the bidirectional overrides that can disguise text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_ANY = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# In one-line fields also the invisible marks that disguise or split a title: bidi marks and zero-width characters.
_INVISIBLE = re.compile(r"[\u061c\u200b\u200e\u200f\u2060\ufeff]")
# A whole ANSI escape sequence (CSI "ESC [ ... letter" or OSC "ESC ] ... BEL"), so no "[2J" residue is left.
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]{0,32}[ -/]{0,4}[@-~]|\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)?)")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def scrub_surrogates(text: str) -> str:
    """Replace lone surrogates (from `\\ud800` JSON escapes or undecodable argv bytes) with U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def clean_text(text: str) -> str:
    """Text that can be encoded, stored and shown: surrogates replaced, control characters (but not tab, LF, CR)
    removed."""
    text = _ANSI.sub("", scrub_surrogates(text)).replace("\x0c", "\n").replace("\x0b", "\n")  # page/line breaks
    return _CONTROL.sub("", text)


def clean_field(value: str) -> str:
    """A one-line metadata field (title, byline, source, date): every control character (newlines too) becomes a
    space, whitespace runs collapse."""
    return " ".join(_CONTROL_ANY.sub(" ", _INVISIBLE.sub("", _ANSI.sub("", scrub_surrogates(value)))).split())


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary when one is near, ending in "…"."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return text[:limit]
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space >= limit * 0.8:
        head = head[:space]
    return head.rstrip() + "…"


def strip_credentials(url: str) -> str:
    """The URL without `user:password@` (in its authority and in any URL embedded in it, e.g. a query)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _CREDENTIALS.sub(r"\1", url)
    if parts.username is not None or parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return _CREDENTIALS.sub(r"\1", url)


def redact_urls(text: str) -> str:
    """Any `scheme://user:pass@` inside free text (an error message, a log line) without the credentials."""
    return _CREDENTIALS.sub(r"\1", text) if "@" in text else text


def terminal_safe(text: str) -> str:
    """Text safe to print on a terminal: control characters (ESC, NUL, CR, BEL, ...) shown escaped as `\\x1b`,
    newlines and tabs kept."""
    text = scrub_surrogates(text)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def one_line_safe(text: str) -> str:
    """`terminal_safe` for a single line: newlines and tabs escaped as well."""
    text = scrub_surrogates(text)
    return _CONTROL_ANY.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
