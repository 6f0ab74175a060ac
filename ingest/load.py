"""Turn command-line inputs (files, folders, URLs, RSS/Atom feeds, JSON records) into RawDocuments or LoadErrors."""

from __future__ import annotations

import datetime as dt
import fnmatch
import io
import json
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from articleqa.limits import BudgetExceeded, budget, check
from articleqa.models import RawDocument
from articleqa.safe_text import clean_field, redact_urls, scrub_surrogates, strip_credentials
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
# A URL-like argument that is not an http(s) URL (ftp://, file://, data:, javascript:, mailto:): never a path.
_OTHER_SCHEME = re.compile(r"(?i)^([a-z][a-z0-9+.-]*):(//|(?=[^\\/]))")
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
         (b"\xfe\xff", "utf-16"))
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
            if not item.strip():
                # Path("") is the current directory: an empty argument (an unset shell variable) must not ingest it.
                yield LoadError(repr(item), "empty input; give a file, folder or URL")
                continue
            if re.match(r"(?i)https?://", item):
                if len(item) > settings.limits.max_url_chars:
                    yield LoadError(_clip(item), _url_too_long(item, settings))
                    continue
                if client is None:
                    client = _http_client(settings)
                yield from _load_url(item, client, settings, allow_feed=True)
                continue
            try:
                path = Path(item).expanduser()
                if path.is_dir():
                    yield from _folder(path, settings)
                    continue
                missing = not path.exists()
            except (OSError, ValueError) as exc:  # a NUL in the name, a name too long
                yield LoadError(item, f"cannot read: {getattr(exc, 'strerror', None) or _short(exc)}")
                continue
            if missing:
                yield LoadError(item, _missing_reason(item, path))
                continue
            yield from _bounded(str(path), settings, lambda f=path: _load_file(f, settings))
    finally:
        if client is not None:
            client.close()


def _url_too_long(url: str, settings: Settings) -> str:
    return f"URL too long ({len(url):,} characters > max_url_chars {settings.limits.max_url_chars:,})"


def _clip(text: str, limit: int = 200) -> str:
    """A long input name shortened for a message (the head names it; a 100 KB URL is not one clear line)."""
    return text if len(text) <= limit else f"{text[: limit - 40]}…{text[-39:]}"


def _capped(items: Iterable[RawDocument | LoadError], origin: str, max_bad: int, what: str
            ) -> Iterator[RawDocument | LoadError]:
    """The items of one file or feed with at most `max_bad` LoadErrors, then one line counting the rest."""
    bad = 0
    for item in items:
        if isinstance(item, LoadError):
            bad += 1
            if bad > max_bad:
                continue
        yield item
    if bad > max_bad:
        yield LoadError(origin, f"{bad - max_bad} more bad {what} not shown (max_bad_lines {max_bad})")


def _missing_reason(item: str, path: Path) -> str:
    """Why an argument names nothing to read: a URL of another scheme, a dangling or looping link, or no file."""
    scheme = _OTHER_SCHEME.match(item)
    if scheme and len(scheme.group(1)) > 1:  # "C:" style drive letters are paths
        return f"unsupported URL scheme '{scheme.group(1).lower()}:' (only http and https URLs are fetched)"
    if path.is_symlink():
        return "broken or looping symbolic link"
    return "no such file or directory"


def _bounded(origin: str, settings: Settings, load: Callable[[], Iterator[RawDocument | LoadError]]
             ) -> list[RawDocument | LoadError]:
    """Run one input's loader to completion under the input budget and turn any failure into a LoadError.

    The results are collected first and yielded afterwards, so the budget never counts the consumer's time (the
    pipeline embeds and stores between two yields) and an interrupted loader cannot end the whole run.
    """
    try:
        with budget(settings.limits.input_budget, f"took longer than input_budget {settings.limits.input_budget:g} s"):
            return list(load())
    except (BudgetExceeded, _Reject) as exc:
        return [LoadError(origin, str(exc))]
    except (MemoryError, RecursionError) as exc:
        return [LoadError(origin, f"too large or too deeply nested to load ({type(exc).__name__})")]
    except Exception as exc:  # a loader bug must fail this input only, never the run
        return [LoadError(origin, f"could not load ({type(exc).__name__}: {_short(exc)[:200]})")]


def _folder(folder: Path, settings: Settings) -> Iterator[RawDocument | LoadError]:
    """Every supported file below `folder`, each under its own budget; a subfolder that cannot be read is one
    LoadError and the walk goes on."""
    files, errors = _folder_files(folder, settings)
    yield from errors
    for file in files:
        yield from _bounded(str(file), settings, lambda f=file: _load_file(f, settings))


def _folder_files(folder: Path, settings: Settings) -> tuple[list[Path], list[LoadError]]:
    """Supported files below `folder`, sorted, filtered by include/exclude, and the subfolders that could not be read.

    Hidden files and folders are skipped; links to folders are not followed (a link back up would loop). The walk
    keeps its own stack, so no nesting depth can exhaust Python's recursion limit.
    """
    found: list[Path] = []
    errors: list[LoadError] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(LoadError(str(current), f"cannot read folder: {exc.strerror or _short(exc)}"))
            continue
        for entry in reversed(entries):  # a stack: reversed, so files come out in sorted order
            # Hidden entries (.git, .ipynb_checkpoints, editor backups) are never articles.
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                    continue
                if not entry.is_file():  # FIFOs, sockets, devices, dangling links: not articles
                    continue
            except OSError:
                continue
            rel = path.relative_to(folder)
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                continue
            if settings.ingest.include and not _matches(rel, settings.ingest.include):
                continue
            if settings.ingest.exclude and _matches(rel, settings.ingest.exclude):
                continue
            found.append(path)
    return sorted(found), errors


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
    limit = int(settings.ingest.max_file_mb * _MIB)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            # A FIFO would block the run until a writer comes; /dev/zero or /dev/urandom never end.
            raise _Reject(f"not a regular file ({_file_kind(st.st_mode)})")
        if st.st_size > limit:
            raise _Reject(f"file too large ({st.st_size / _MIB:.1f} MiB > max_file_mb {settings.ingest.max_file_mb:g})")
        if st.st_size == 0:
            raise _Reject("empty file")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # never more than the limit, even from a file that grows while it is read
        if len(data) > limit:
            raise _Reject(f"file too large (grew past max_file_mb {settings.ingest.max_file_mb:g} while read)")
    except _Reject as exc:
        yield LoadError(origin, str(exc))
        return
    except OSError as exc:
        yield LoadError(origin, f"cannot read: {exc.strerror or exc}")
        return
    yield from _load_bytes(data, ext, origin, url=None, max_bad=settings.limits.max_bad_lines)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def _load_bytes(data: bytes, kind: str, origin: str, url: str | None,
                charset: str | None = None, hints: dict[str, str | None] | None = None, max_bad: int = 20
                ) -> Iterator[RawDocument | LoadError]:
    """Parse the bytes of one file or HTTP body; `kind` is an extension (".pdf", ".html", ...)."""
    hints = {k: v for k, v in (hints or {}).items() if v}
    try:
        if kind == ".pdf":
            text, meta = _pdf_text(data)
            yield RawDocument(origin=origin, text=text, url=url, **{**meta, **hints})
            return
        if kind == ".jsonl":
            # Line by line from the bytes: a NUL-only, binary or badly encoded line fails alone, not the file.
            yield from _jsonl_records(data, origin, max_bad)
            return
        text = _decode(data, charset, html=kind in _HTML_EXTENSIONS)
        if not text.strip():
            raise _Reject("empty file")
    except _Reject as exc:
        yield LoadError(origin, str(exc))
        return
    if kind == ".json":
        yield from _json_records(text, origin, max_bad)
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
    for bom, encoding in _BOMS:  # before the NUL test: UTF-16 and UTF-32 text is full of NUL bytes
        if data.startswith(bom):
            try:
                return _checked(data.decode(encoding, errors="strict"))
            except UnicodeDecodeError:
                raise _Reject(f"invalid {encoding.upper()} after its byte-order mark") from None
    if b"\x00" in data[:65536]:
        raise _Reject("binary file (contains NUL bytes)")
    if html and not charset:
        m = _META_CHARSET.search(data[:4096])
        charset = m.group(1).decode("ascii") if m else None
    # A declared charset is honoured only when ASCII reads the same in it: a page whose bytes are ASCII/UTF-8 but
    # that claims UTF-16 or UTF-7 (a lie, or an XSS trick) would otherwise become CJK junk or hidden markup. Browsers
    # do the same (WHATWG: a <meta> UTF-16 label means UTF-8; UTF-7 is not supported at all).
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8") and _ascii_compatible(charset):
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


def _ascii_compatible(charset: str) -> bool:
    probe = "<html> text=1; A-Z a-z 0-9 +/-"
    try:
        return probe.encode(charset) == probe.encode("ascii") and probe.encode(charset).decode(charset) == probe
    except (LookupError, UnicodeError, ValueError):
        return False


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


def _jsonl_records(data: bytes, origin: str, max_bad: int) -> Iterator[RawDocument | LoadError]:
    """One record per JSONL line; each bad line is one LoadError (the first `max_bad`, then one count)."""
    seen = False
    for item in _capped(_jsonl_lines(data, origin), origin, max_bad, "lines"):
        seen = True
        yield item
    if not seen:
        yield LoadError(origin, "empty file")


def _jsonl_lines(data: bytes, origin: str) -> Iterator[RawDocument | LoadError]:
    for lineno, raw_line in enumerate(data.split(b"\n"), start=1):
        if raw_line.strip():
            item = _jsonl_line(raw_line, f"{origin}:{lineno}", first=lineno == 1)
            if isinstance(item, RawDocument):
                item.parent = origin
            yield item


def _jsonl_line(raw_line: bytes, where: str, first: bool) -> RawDocument | LoadError:
    if first and raw_line.startswith(b"\xef\xbb\xbf"):
        raw_line = raw_line[3:]
    if b"\x00" in raw_line:
        return LoadError(where, "binary data (NUL bytes) instead of a JSON record")
    try:
        line = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LoadError(where, f"invalid UTF-8 (byte 0x{raw_line[exc.start]:02x} at column {exc.start + 1})")
    value = _parse_json(line, where)
    return value if isinstance(value, LoadError) else _record(value, where)


def _parse_json(text: str, where: str) -> Any:
    """json.loads, with every way it fails (syntax, a number over Python's 4300-digit limit, nesting) as a LoadError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return LoadError(f"{where}:{exc.lineno}" if exc.lineno > 1 else where,
                         f"invalid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return LoadError(where, "invalid JSON: nested too deeply")
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion", and the like
        return LoadError(where, f"invalid JSON: {_short(exc)[:160]}")


def _json_records(text: str, origin: str, max_bad: int = 20) -> Iterator[RawDocument | LoadError]:
    value = _parse_json(text, origin)
    if isinstance(value, LoadError):
        yield value
        return
    if isinstance(value, list):
        if not value:
            yield LoadError(origin, "JSON list has no records")
        records = (_record(item, f"{origin}[{i}]", parent=origin) for i, item in enumerate(value))
        yield from _capped(records, origin, max_bad, "records")
    else:
        yield _record(value, origin)


def _record(value: Any, origin: str, parent: str = "") -> RawDocument | LoadError:
    """One JSON object {text, id|doc_id, title, url, publish_date|date, source, author} as a RawDocument."""
    if not isinstance(value, dict):
        return LoadError(origin, f"JSON record must be an object, got {type(value).__name__}")
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        return LoadError(origin, "JSON record has no non-empty 'text'")
    text = scrub_surrogates(text)  # "\ud800" escapes decode to lone surrogates, which cannot be encoded or stored

    def field(*names: str) -> str | None:
        for name in names:
            v = value.get(name)
            # Only scalars: a nested object or list is not a title (and str() of a huge one is not a field).
            if isinstance(v, bool | dict | list) or v is None:
                continue
            v = clean_field(str(v)[:2000])
            if v:
                return v
        return None

    raw_date = field("publish_date", "date", "published")
    return RawDocument(
        origin=origin,
        text=text,
        is_html=bool(_HTML_START.match(text)),
        doc_id=field("id", "doc_id"),
        title=field("title"),
        url=strip_credentials(field("url") or "") or None,
        date=normalize_date(raw_date) if raw_date else None,
        source=field("source"),
        author=field("author"),
        parent=parent,
    )


# --------------------------------------------------------------------------------------------------------------
# URLs and feeds
# --------------------------------------------------------------------------------------------------------------


def _http_client(settings: Settings):  # -> httpx.Client (kept lazy so importing this module stays cheap)
    import httpx

    return httpx.Client(
        timeout=settings.ingest.http_timeout,
        follow_redirects=True,
        # A fresh connection per request: the deadline's timer can only cut a connection whose socket it saw open.
        limits=httpx.Limits(max_keepalive_connections=0),
        headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                 "Accept-Encoding": ", ".join(_DECODERS)},
    )


# Content-Encodings decoded here, in bounded steps (httpx inflates a whole chunk at once: "gzip, gzip" turns a few
# KB into gigabytes in one call). The value is zlib's wbits.
_DECODERS = {"gzip": 16 + 15, "x-gzip": 16 + 15, "deflate": 15}
_STEP = 1 << 20  # bytes inflated per step


class _Inflate:
    """Undo a Content-Encoding chain ("gzip", "deflate", "gzip, gzip") without ever holding more than `limit`."""

    def __init__(self, encodings: str, limit: int, too_large: str):
        import zlib

        names = [e.strip().lower() for e in encodings.split(",") if e.strip() and e.strip().lower() != "identity"]
        unknown = [n for n in names if n not in _DECODERS]
        if unknown:
            raise _Reject(f"unsupported Content-Encoding '{unknown[0][:40]}'")
        # Content-Encoding lists codings in the order they were applied: undo them last to first.
        self._stages = [zlib.decompressobj(_DECODERS[n]) for n in reversed(names)]
        self._raw_deflate = [n == "deflate" for n in reversed(names)]
        self._head = [b""] * len(names)  # a "deflate" stage's first bytes, until its zlib header is known good
        self._limit, self._too_large, self.total = limit, too_large, 0

    def feed(self, data: bytes) -> bytes:
        for k in range(len(self._stages)):
            data = self._stage(k, data)
        self.total += len(data)
        if self.total > self._limit:
            raise _Reject(self._too_large)
        return data

    def _stage(self, k: int, data: bytes) -> bytes:
        import zlib

        out: list[bytes] = []
        size = 0
        while True:
            try:
                piece = self._stages[k].decompress(data, _STEP)
            except zlib.error as exc:
                if self._raw_deflate[k]:  # "deflate" sent without its zlib header: start over as raw deflate
                    self._stages[k], self._raw_deflate[k] = zlib.decompressobj(-15), False
                    data, self._head[k] = self._head[k] + data, b""
                    continue
                raise _Reject(f"corrupt compressed response ({exc})") from None
            if self._raw_deflate[k]:
                self._head[k] += data[: 2 - len(self._head[k])]
                self._raw_deflate[k] = len(self._head[k]) < 2  # zlib checks its 2-byte header once it has it
            out.append(piece)
            size += len(piece)
            if size > self._limit:
                raise _Reject(self._too_large)
            data = self._stages[k].unconsumed_tail
            # Input used up: one more call with none drains what a full step left pending, then stop.
            if not data and (not piece or self._stages[k].eof):
                return b"".join(out)


@dataclass
class _Response:
    url: str  # final URL after redirects
    content_type: str
    charset: str | None
    body: bytes


def _fetch(url: str, client, settings: Settings) -> _Response:
    """GET a URL under one total deadline (connect and every read), streaming so that an oversized body is
    abandoned at the limit."""
    import httpx

    limit = int(settings.ingest.max_file_mb * _MIB)
    deadline = settings.limits.http_deadline
    timeout = settings.ingest.http_timeout
    # Each read waits at most http_timeout, and never past the deadline: a server dripping a byte a second cannot
    # hold a URL longer than http_deadline even where no timer signal is available (the chat's ingest thread).
    per_call = min(timeout, deadline) if deadline > 0 else timeout
    too_large = f"response too large (over max_file_mb {settings.ingest.max_file_mb:g} MiB)"
    late = f"took longer than http_deadline {deadline:g} s"
    cutter = _DeadlineCutter(deadline)
    try:
        with cutter, budget(deadline, late), client.stream(
                "GET", url, timeout=httpx.Timeout(per_call), extensions={"trace": cutter.trace}) as resp:
            if resp.status_code >= 400:
                raise _Reject(f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip())
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _Reject(f"response too large ({int(declared) / _MIB:.1f} MiB > max_file_mb "
                              f"{settings.ingest.max_file_mb:g})")
            inflate = _Inflate(resp.headers.get("content-encoding", ""), limit, too_large)
            chunks = []
            for raw in resp.iter_raw():
                check()
                chunks.append(inflate.feed(raw))
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            return _Response(strip_credentials(str(resp.url)), ctype, resp.charset_encoding, b"".join(chunks))
    except httpx.HTTPError as exc:
        if cutter.fired:  # the timer cut the connection: the error is the deadline, whatever httpx calls it
            raise _Reject(late) from exc
        raise _http_failure(exc, per_call) from exc
    except UnicodeError as exc:  # a host name IDNA cannot encode ("xn--a", a lone surrogate)
        raise _Reject(f"invalid URL ({type(exc).__name__}: {_short(exc)[:160]})") from exc


class _DeadlineCutter:
    """Shuts the request's sockets when the deadline passes. In the main thread SIGALRM interrupts a slow request;
    in any other thread (the chat's ingest) a server dripping header bytes never lets a read time out, and no
    cooperative check runs before the body: only closing the socket under it ends the request."""

    def __init__(self, seconds: float):
        self.seconds, self.fired = seconds, False
        self._sockets: list[Any] = []
        self._timer: threading.Timer | None = None

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                self._sockets.append(sock)

    def _cut(self) -> None:
        self.fired = True
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> _DeadlineCutter:
        if self.seconds > 0:
            self._timer = threading.Timer(self.seconds, self._cut)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _http_failure(exc: Exception, per_call: float) -> _Reject:
    """The one-line rejection for an httpx error."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return _Reject(f"unreachable: timed out after {per_call:g}s")
    if isinstance(exc, httpx.ConnectError):
        return _Reject(f"unreachable: cannot connect ({_short(exc)})")
    if isinstance(exc, httpx.TooManyRedirects):
        return _Reject("too many redirects")
    if isinstance(exc, httpx.InvalidURL):
        return _Reject(f"invalid URL ({_short(exc)})")
    return _Reject(f"request failed ({type(exc).__name__}: {_short(exc)})")


def _short(exc: Exception) -> str:
    # httpx may quote the URL it failed on: never print its credentials.
    return redact_urls(str(exc).strip()) or type(exc).__name__


def _load_url(url: str, client, settings: Settings, allow_feed: bool,
              hints: dict[str, str | None] | None = None) -> Iterator[RawDocument | LoadError]:
    """One URL under its own budget; a feed's entries then each get theirs. Credentials in the URL are used for
    the request but never stored or printed."""
    shown = strip_credentials(url)
    feeds: list[tuple[_Response, Any]] = []

    def one() -> Iterator[RawDocument | LoadError]:
        resp = _fetch(url, client, settings)
        if not resp.body.strip():
            raise _Reject("empty response")
        kind = _kind(resp)
        if kind == "feed":
            if not allow_feed:
                raise _Reject("feed entry links to another feed")
            import feedparser

            # Parsed here, inside the budget: a hostile feed must not stall the run either.
            feeds.append((resp, feedparser.parse(resp.body, response_headers={"content-location": resp.url})))
            return iter(())
        if kind is None:
            raise _Reject(f"unsupported content type '{resp.content_type or 'unknown'}'")
        return _load_bytes(resp.body, kind, shown, url=resp.url, charset=resp.charset, hints=hints,
                           max_bad=settings.limits.max_bad_lines)

    yield from _bounded(shown, settings, one)
    if feeds:
        yield from _load_feed(shown, *feeds[0], client, settings)


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


def _load_feed(feed_url: str, resp: _Response, parsed: Any, client, settings: Settings
               ) -> Iterator[RawDocument | LoadError]:
    """One RawDocument per feed entry, fetched from the entry's link; entry metadata are passed as hints."""
    entries = parsed.get("entries") or []
    if not entries:
        why = f" ({parsed.get('bozo_exception')})" if parsed.get("bozo") and not parsed.get("version") else ""
        yield LoadError(feed_url, f"feed has no entries{why}")
        return
    most = settings.limits.max_feed_entries
    if len(entries) > most:
        yield LoadError(feed_url, f"feed has {len(entries):,} entries; only the first {most:,} are fetched "
                                  f"(max_feed_entries {most:,})")
    yield from _capped(_feed_entries(feed_url, resp, entries[:most], client, settings), feed_url,
                       settings.limits.max_bad_lines, "entries")


def _feed_entries(feed_url: str, resp: _Response, entries: list[Any], client, settings: Settings
                  ) -> Iterator[RawDocument | LoadError]:
    for i, entry in enumerate(entries):
        link = entry.get("link")
        if not link:
            yield LoadError(f"{feed_url}[{i}]", "feed entry has no link")
            continue
        link = urljoin(resp.url, str(link).strip())
        if not re.match(r"(?i)https?://", link):
            shown_link = _clip(strip_credentials(link))
            yield LoadError(f"{feed_url}[{i}]", f"feed entry link is not an http(s) URL: {shown_link!r}")
            continue
        if len(link) > settings.limits.max_url_chars:
            yield LoadError(f"{feed_url}[{i}]", _url_too_long(link, settings))
            continue
        hints = {
            "title": clean_field(str(entry.get("title") or "")) or None,
            "date": _entry_date(entry),
            # author_detail.name drops the e-mail of RSS's "ana@example.org (Ana Reporter)" form.
            "author": clean_field(str((entry.get("author_detail") or {}).get("name") or entry.get("author") or ""))
            or None,
        }
        for item in _load_url(link, client, settings, allow_feed=False, hints=hints):
            if isinstance(item, RawDocument):
                item.parent = feed_url
            yield item


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

