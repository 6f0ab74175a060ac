"""Turn command-line inputs (files, folders, URLs, RSS/Atom feeds, JSON records) into RawDocuments or LoadErrors."""

from __future__ import annotations

import datetime as dt
import fnmatch
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from articleqa.models import RawDocument
from articleqa.settings import Settings

SUPPORTED_EXTENSIONS = frozenset({".txt", ".md", ".html", ".htm", ".pdf", ".json", ".jsonl"})
USER_AGENT = "articleqa/0.1 (+https://github.com/articleqa; news question answering)"

_TEXT_EXTENSIONS = {".txt", ".md"}
_HTML_EXTENSIONS = {".html", ".htm"}
_MIB = 1024 * 1024
# Controls that never occur in real text files (tab, LF, FF, CR are allowed); a few of them mean "binary".
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_UTF8_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_XML_FEED = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]", re.IGNORECASE)
_HTML_START = re.compile(r"\A\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|article|div|p)[\s>]", re.I | re.S)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)
# Up to and including the first four-digit year: a date written in words ends there ("4 Sep 2025, 10:00 | Updated").
_UP_TO_YEAR = re.compile(r"^.*?(?<!\d)\d{4}(?!\d)")


@dataclass
class LoadError:
    """An input (or one record/entry of it) that could not be loaded, and why."""

    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


class _Reject(Exception):
    """Internal: an input is rejected with a reason; turned into a LoadError at the boundary."""


# --------------------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------------------


def load_inputs(inputs: list[str], settings: Settings) -> Iterator[RawDocument | LoadError]:
    """Load every input in order, never raising for bad input.

    Args:
        inputs: file paths, folder paths, http(s) URLs of articles or RSS/Atom feeds.
        settings: uses max_file_mb, http_timeout, include and exclude.
    Returns:
        An iterator of RawDocument (one per article, JSON record or feed entry) and LoadError (one per failure,
        after which loading continues with the next item).
    """
    client = None
    try:
        for item in inputs:
            if re.match(r"(?i)https?://", item):
                if client is None:
                    client = _http_client(settings)
                yield from _load_url(item, client, settings, allow_feed=True)
                continue
            path = Path(item).expanduser()
            if path.is_dir():
                for file in _folder_files(path, settings):
                    yield from _load_file(file, settings)
            elif path.exists():
                yield from _load_file(path, settings)
            else:
                yield LoadError(item, "no such file or directory")
    finally:
        if client is not None:
            client.close()


def _folder_files(folder: Path, settings: Settings) -> list[Path]:
    """Supported files below `folder`, sorted, filtered by include/exclude; hidden files and folders are skipped."""
    found = []
    for file in sorted(folder.rglob("*")):
        rel = file.relative_to(folder)
        # Hidden entries (.git, .ipynb_checkpoints, editor backups) are never articles.
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        if file.suffix.lower() not in SUPPORTED_EXTENSIONS:
            continue
        if settings.ingest.include and not _matches(rel, settings.ingest.include):
            continue
        if settings.ingest.exclude and _matches(rel, settings.ingest.exclude):
            continue
        found.append(file)
    return found


def _matches(rel: Path, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel.as_posix(), p) or fnmatch.fnmatch(rel.name, p) for p in patterns)


# --------------------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------------------


def _load_file(path: Path, settings: Settings) -> Iterator[RawDocument | LoadError]:
    origin = str(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        yield LoadError(origin, f"unsupported file type '{ext or path.name}' (supported: "
                                f"{', '.join(sorted(SUPPORTED_EXTENSIONS))})")
        return
    try:
        size = path.stat().st_size
        if size > settings.ingest.max_file_mb * _MIB:
            raise _Reject(f"file too large ({size / _MIB:.1f} MiB > max_file_mb {settings.ingest.max_file_mb:g})")
        if size == 0:
            raise _Reject("empty file")
        data = path.read_bytes()
    except _Reject as exc:
        yield LoadError(origin, str(exc))
        return
    except OSError as exc:
        yield LoadError(origin, f"cannot read: {exc.strerror or exc}")
        return
    yield from _load_bytes(data, ext, origin, url=None)


def _load_bytes(data: bytes, kind: str, origin: str, url: str | None,
                charset: str | None = None, hints: dict[str, str | None] | None = None
                ) -> Iterator[RawDocument | LoadError]:
    """Parse the bytes of one file or HTTP body; `kind` is an extension (".pdf", ".html", ...)."""
    hints = {k: v for k, v in (hints or {}).items() if v}
    try:
        if kind == ".pdf":
            text, meta = _pdf_text(data)
            yield RawDocument(origin=origin, text=text, url=url, **{**meta, **hints})
            return
        text = _decode(data, charset, html=kind in _HTML_EXTENSIONS)
        if not text.strip():
            raise _Reject("empty file")
    except _Reject as exc:
        yield LoadError(origin, str(exc))
        return
    if kind in (".json", ".jsonl"):
        yield from _json_records(text, origin, lines=kind == ".jsonl")
    elif kind in _HTML_EXTENSIONS:
        yield RawDocument(origin=origin, text=text, is_html=True, url=url, **hints)
    else:
        yield RawDocument(origin=origin, text=text, url=url, **hints)


def _decode(data: bytes, charset: str | None = None, html: bool = False) -> str:
    """Bytes to text.

    UTF-8 (with or without BOM) is expected. A declared charset (HTTP header or HTML <meta>) is honoured. Otherwise
    a cp1252/latin-1 fallback is accepted only when the result is plausible text: the bytes hold no valid UTF-8
    multi-byte sequence (that would be damaged UTF-8), the text no control characters, and charset-normalizer finds
    it readable. This admits legacy Western files ("café" saved as latin-1, Windows curly quotes) and rejects binary
    junk and damaged UTF-8, reported as "invalid UTF-8".
    """
    if b"\x00" in data[:65536]:
        raise _Reject("binary file (contains NUL bytes)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _checked(data.decode("utf-16", errors="strict"))
        except UnicodeDecodeError:
            raise _Reject("invalid UTF-16 after its byte-order mark") from None
    if html and not charset:
        m = _META_CHARSET.search(data[:4096])
        charset = m.group(1).decode("ascii") if m else None
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            return _checked(data.decode(charset))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration is common; fall through to the detection below
    try:
        return _checked(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # Valid UTF-8 sequences next to the bad byte mean damaged UTF-8: decoding it as cp1252 would produce mojibake.
    if _UTF8_SEQ.search(data) is None:
        from charset_normalizer import from_bytes

        # Only the legacy Western encodings, judged by charset-normalizer's mess detector (junk bytes read as
        # cp1252 or latin-1 are a mess of symbols and accents; a latin-1 "café" is not).
        best = from_bytes(data, cp_isolation=["cp1252", "latin_1"]).best()
        text = str(best) if best is not None else ""
        if text and not _CONTROL.search(text) and not re.search(r"[\x80-\x9f]", text):
            return text
    raise _Reject(f"invalid UTF-8 (byte 0x{data[utf8_error.start]:02x} at offset {utf8_error.start}) "
                  "and not plausible cp1252/latin-1 text")


def _checked(text: str) -> str:
    if len(_CONTROL.findall(text[:65536])) > 3:
        raise _Reject("binary file (control characters)")
    return text


def _pdf_text(data: bytes) -> tuple[str, dict[str, str]]:
    """Text of a PDF (pages joined, lines reflowed into paragraphs) and metadata hints."""
    import pypdf
    from pypdf.errors import DependencyError, PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise _Reject(f"corrupt PDF ({exc})") from exc
    if reader.is_encrypted:
        try:
            # Owner-password-only PDFs open with an empty user password; those are readable.
            ok = reader.decrypt("")
        except DependencyError as exc:
            raise _Reject(f"encrypted PDF (cannot decrypt: {exc})") from exc
        except Exception as exc:  # pypdf raises assorted errors on broken encryption dictionaries
            raise _Reject(f"encrypted PDF ({exc})") from exc
        if not ok:
            raise _Reject("encrypted PDF (password required)")
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # a broken page stream can raise nearly anything inside pypdf
        raise _Reject(f"corrupt PDF ({exc})") from exc
    text = _reflow("\n\n".join(pages))
    if len(re.findall(r"\w+", text)) < 3:
        raise _Reject("PDF has no extractable text (scanned image?)")
    meta: dict[str, str] = {}
    try:
        info = reader.metadata
    except Exception:
        info = None
    if info:
        title = (info.title or "").strip()
        # Titles like "Microsoft Word - draft.docx" describe the file, not the article.
        if title and not re.search(r"(?i)(\.(docx?|pdf|odt)$|^untitled|^microsoft word)", title):
            meta["title"] = title
        if (info.author or "").strip():
            meta["author"] = info.author.strip()
        try:
            created = info.creation_date
        except Exception:
            created = None
        if created:
            meta["date"] = created.date().isoformat()
    return text, meta


def _reflow(text: str) -> str:
    """Join PDF layout lines back into paragraphs: a line continues when the next starts in lower case."""
    text = re.sub(r"(\w)-\n(?=[a-z])", r"\1", text)  # word hy-\nphenated at a line end
    return re.sub(r"(?<![.!?:\"”’)])[ \t]*\n(?=[ \t]*[a-z(“\"‘])", " ", text)


# --------------------------------------------------------------------------------------------------------------
# JSON records
# --------------------------------------------------------------------------------------------------------------


def _json_records(text: str, origin: str, lines: bool) -> Iterator[RawDocument | LoadError]:
    if lines:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{origin}:{lineno}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield LoadError(where, f"invalid JSON: {exc.msg} (column {exc.colno})")
                continue
            except RecursionError:
                yield LoadError(where, "invalid JSON: nested too deeply")
                continue
            yield _record(value, where)
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        yield LoadError(f"{origin}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})")
        return
    except RecursionError:
        yield LoadError(origin, "invalid JSON: nested too deeply")
        return
    if isinstance(value, list):
        if not value:
            yield LoadError(origin, "JSON list has no records")
        for i, item in enumerate(value):
            yield _record(item, f"{origin}[{i}]")
    else:
        yield _record(value, origin)


def _record(value: Any, origin: str) -> RawDocument | LoadError:
    """One JSON object {text, id|doc_id, title, url, publish_date|date, source, author} as a RawDocument."""
    if not isinstance(value, dict):
        return LoadError(origin, f"JSON record must be an object, got {type(value).__name__}")
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        return LoadError(origin, "JSON record has no non-empty 'text'")

    def field(*names: str) -> str | None:
        for name in names:
            v = value.get(name)
            if v is not None and str(v).strip():
                return str(v).strip()
        return None

    raw_date = field("publish_date", "date", "published")
    return RawDocument(
        origin=origin,
        text=text,
        is_html=bool(_HTML_START.match(text)),
        doc_id=field("id", "doc_id"),
        title=field("title"),
        url=field("url"),
        date=normalize_date(raw_date) if raw_date else None,
        source=field("source"),
        author=field("author"),
    )


# --------------------------------------------------------------------------------------------------------------
# URLs and feeds
# --------------------------------------------------------------------------------------------------------------


def _http_client(settings: Settings):  # -> httpx.Client (kept lazy so importing this module stays cheap)
    import httpx

    return httpx.Client(
        timeout=settings.ingest.http_timeout,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
    )


@dataclass
class _Response:
    url: str  # final URL after redirects
    content_type: str
    charset: str | None
    body: bytes


def _fetch(url: str, client, settings: Settings) -> _Response:
    """GET a URL, streaming so that an oversized body is abandoned at the limit."""
    import httpx

    limit = int(settings.ingest.max_file_mb * _MIB)
    try:
        with client.stream("GET", url) as resp:
            if resp.status_code >= 400:
                raise _Reject(f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip())
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _Reject(f"response too large ({int(declared) / _MIB:.1f} MiB > max_file_mb "
                              f"{settings.ingest.max_file_mb:g})")
            chunks, total = [], 0
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise _Reject(f"response too large (over max_file_mb {settings.ingest.max_file_mb:g} MiB)")
                chunks.append(chunk)
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            return _Response(str(resp.url), ctype, resp.charset_encoding, b"".join(chunks))
    except httpx.TimeoutException as exc:
        raise _Reject(f"unreachable: timed out after {settings.ingest.http_timeout:g}s") from exc
    except httpx.ConnectError as exc:
        raise _Reject(f"unreachable: cannot connect ({_short(exc)})") from exc
    except httpx.TooManyRedirects as exc:
        raise _Reject("too many redirects") from exc
    except httpx.InvalidURL as exc:
        raise _Reject(f"invalid URL ({exc})") from exc
    except httpx.HTTPError as exc:
        raise _Reject(f"request failed ({type(exc).__name__}: {_short(exc)})") from exc


def _short(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__


def _load_url(url: str, client, settings: Settings, allow_feed: bool,
              hints: dict[str, str | None] | None = None) -> Iterator[RawDocument | LoadError]:
    try:
        resp = _fetch(url, client, settings)
    except _Reject as exc:
        yield LoadError(url, str(exc))
        return
    if not resp.body.strip():
        yield LoadError(url, "empty response")
        return
    kind = _kind(resp)
    if kind == "feed":
        if allow_feed:
            yield from _load_feed(url, resp, client, settings)
        else:
            yield LoadError(url, "feed entry links to another feed")
        return
    if kind is None:
        yield LoadError(url, f"unsupported content type '{resp.content_type or 'unknown'}'")
        return
    yield from _load_bytes(resp.body, kind, url, url=resp.url, charset=resp.charset, hints=hints)


def _kind(resp: _Response) -> str | None:
    """What a response is: "feed", or an extension-like kind (".html", ".pdf", ...), or None when unsupported."""
    ctype, head = resp.content_type, resp.body[:2048]
    if "rss" in ctype or "atom" in ctype:
        return "feed"
    if ctype in ("application/xml", "text/xml", "") or ctype.endswith("+xml") or ctype == "text/html":
        # Servers often label feeds text/xml or even text/html: look at the body.
        if _XML_FEED.search(head):
            return "feed"
    if ctype in ("text/html", "application/xhtml+xml") or (not ctype and b"<html" in head.lower()):
        return ".html"
    if ctype == "application/pdf" or head.startswith(b"%PDF"):
        return ".pdf"
    if ctype in ("application/json", "application/x-ndjson", "application/jsonl"):
        return ".jsonl" if "nd" in ctype or "jsonl" in ctype else ".json"
    if ctype in ("text/plain", "text/markdown", ""):
        return ".txt"
    return None


def _load_feed(feed_url: str, resp: _Response, client, settings: Settings) -> Iterator[RawDocument | LoadError]:
    """One RawDocument per feed entry, fetched from the entry's link; entry metadata are passed as hints."""
    import feedparser

    parsed = feedparser.parse(resp.body, response_headers={"content-location": resp.url})
    entries = parsed.get("entries") or []
    if not entries:
        why = f" ({parsed.get('bozo_exception')})" if parsed.get("bozo") and not parsed.get("version") else ""
        yield LoadError(feed_url, f"feed has no entries{why}")
        return
    for i, entry in enumerate(entries):
        link = entry.get("link")
        if not link:
            yield LoadError(f"{feed_url}[{i}]", "feed entry has no link")
            continue
        link = urljoin(resp.url, link)
        hints = {
            "title": (entry.get("title") or "").strip() or None,
            "date": _entry_date(entry),
            # author_detail.name drops the e-mail of RSS's "ana@example.org (Ana Reporter)" form.
            "author": ((entry.get("author_detail") or {}).get("name") or entry.get("author") or "").strip() or None,
        }
        yield from _load_url(link, client, settings, allow_feed=False, hints=hints)


def _entry_date(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            return time.strftime("%Y-%m-%d", st)
    for key in ("published", "updated", "created"):
        if entry.get(key):
            return normalize_date(entry[key])
    return None


# --------------------------------------------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------------------------------------------


def normalize_date(value: str | dt.date | time.struct_time | None) -> str | None:
    """Normalise a date to ISO YYYY-MM-DD.

    Args:
        value: "2022/06/16", "2022-06-16T10:00:00Z", "20220616", RFC 822 ("Thu, 04 Sep 2025 10:00:00 +0900"),
            "September 4, 2025", "4 Sep 2025", a date/datetime or a time.struct_time.
    Returns:
        "YYYY-MM-DD" (the calendar date as written, without time-zone conversion), or None when not a date.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time.struct_time):
        return time.strftime("%Y-%m-%d", value)
    s = str(value).strip()
    # Numeric forms strictly (dateutil would read "2022-13-01" as 13 January); words and RFC 822 through dateutil.
    m = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)", s) or re.match(r"(\d{4})(\d{2})(\d{2})(?!\d)", s)
    if m:
        return _ymd(*m.groups())
    prefix = _UP_TO_YEAR.match(s)
    if not prefix or not re.search(r"[A-Za-z]{3}", prefix.group()):  # a year and a month name must be written
        return None
    from dateutil import parser as date_parser

    for text in (s, prefix.group()):
        try:  # the calendar date as written (no time-zone conversion); fuzzy skips words like "Published"
            dates = {date_parser.parse(text, fuzzy=True, ignoretz=True, default=d).date() for d in _DEFAULTS}
        except (ValueError, OverflowError, date_parser.ParserError):
            continue
        # Two different defaults give one date only when the text names the year, the month and the day.
        return dates.pop().isoformat() if len(dates) == 1 else None
    return None


_DEFAULTS = (dt.datetime(1900, 1, 1), dt.datetime(1904, 2, 2))


def _ymd(year: str, month: str, day: str) -> str | None:
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None

