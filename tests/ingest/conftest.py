"""Fixtures for the ingest tests: loader settings, the seed article, PDF builders, a local HTTP server with feeds."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from articleqa.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# The lead may move the sample around samples/; find it wherever it is.
SEED = next(ROOT.glob("samples/**/xi-kim-beijing-2025-09-04.txt"), ROOT / "samples" / "xi-kim-beijing-2025-09-04.txt")

# Invented articles (no third-party text): long enough to pass the cleaner's minimum.
STORY_1 = [
    "The city council of Exampleton voted on Monday to build a new footbridge over the Blue River, ending a "
    "decade-long debate about how to connect the two halves of the town.",
    '"This bridge will bring our neighbourhoods together," said Mayor Ana Ruiz.',
    "Construction is expected to begin next spring and to last about eighteen months, the council said in a "
    "statement published after the vote.",
]
STORY_2 = [
    "Farmers in the Green Valley reported the largest apple harvest in twenty years on Friday, after a mild spring "
    "and a wet summer helped the orchards recover from last year's drought.",
    "Prices at the regional market fell by a third as a result, according to the valley's growers' association.",
]


def article_html(title: str, paragraphs: list[str], author: str = "Sam Writer", date: str = "2024-05-06",
                 site: str = "Exampleton Gazette") -> str:
    """A small but realistic news page: navigation, article, related links, footer."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title} | {site}</title>
<meta property="og:title" content="{title}"><meta property="og:site_name" content="{site}">
<meta name="author" content="{author}"><meta property="article:published_time" content="{date}T08:00:00Z">
</head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/login">Login</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By {author}</p>{body}</article></main>
<aside><h3>Related stories</h3><ul><li><a href="/x">Ten things to do this weekend</a></li></ul></aside>
<footer><p>Copyright 2024 {site}. All rights reserved.</p><a href="/privacy">Privacy Policy</a></footer>
</body></html>"""


def rss_feed(base: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Exampleton Gazette</title><link>{base}/</link><description>News</description>
<item><title>Council approves footbridge</title><link>{base}/a1.html</link>
<pubDate>Tue, 07 May 2024 09:30:00 +0200</pubDate><author>ana@example.org (Ana Reporter)</author></item>
<item><title>Record apple harvest</title><link>/a2.html</link><pubDate>Wed, 08 May 2024 18:00:00 GMT</pubDate></item>
<item><title>Gone story</title><link>{base}/missing</link></item>
</channel></rss>"""


def atom_feed(base: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Valley News</title><id>urn:x</id>
<updated>2024-05-08T00:00:00Z</updated>
<entry><title>Record apple harvest</title><link href="{base}/a2.html"/><id>urn:a2</id>
<published>2024-05-08T10:00:00Z</published><updated>2024-05-09T10:00:00Z</updated>
<author><name>Pat Grower</name></author></entry>
</feed>"""


EMPTY_RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>Nothing</title></channel></rss>'


@dataclass
class Server:
    base: str
    user_agents: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def _routes(base: str) -> dict[str, tuple[int, str, bytes]]:
    html1 = article_html("Council approves footbridge", STORY_1).encode()
    html2 = article_html("Record apple harvest", STORY_2, author="Pat Grower", date="2024-05-08").encode()
    return {
        "/article.html": (200, "text/html; charset=utf-8", html1),
        "/a1.html": (200, "text/html; charset=utf-8", html1),
        "/a2.html": (200, "text/html", html2),
        "/feed.rss": (200, "application/rss+xml", rss_feed(base).encode()),
        "/feed-as-xml": (200, "text/xml; charset=utf-8", rss_feed(base).encode()),
        "/atom.xml": (200, "application/atom+xml", atom_feed(base).encode()),
        "/empty.rss": (200, "application/rss+xml", EMPTY_RSS.encode()),
        "/plain.txt": (200, "text/plain; charset=utf-8", "\n\n".join(STORY_2).encode()),
        "/image.png": (200, "image/png", b"\x89PNG\r\n\x1a\n" + b"x" * 100),
        "/empty.html": (200, "text/html", b""),
        "/big.html": (200, "text/html", b"<html><body>" + b"<p>word word word.</p>" * 5000 + b"</body></html>"),
        # ASCII bytes labelled UTF-16 / UTF-7: decoded as declared they are CJK junk or hidden markup.
        "/label-utf16.html": (200, "text/html; charset=utf-16", html1),
        "/label-utf7.html": (200, "text/html; charset=utf-7", html1),
        "/many-entries.rss": (200, "application/rss+xml", _many_entries(base, 300).encode()),
    }


def _many_entries(base: str, n: int) -> str:
    items = "".join(f"<item><title>E{i}</title><link>{base}/gone/{i}</link></item>" for i in range(n))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'


@pytest.fixture(scope="session")
def http_server() -> Iterator[Server]:
    """A threaded HTTP server on 127.0.0.1 (port 0): articles, feeds, a 404, a redirect, an oversized body."""
    state: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            server: Server = state["server"]  # type: ignore[assignment]
            server.user_agents.append(self.headers.get("User-Agent", ""))
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/article.html")
                self.end_headers()
                return
            route = _routes(server.base).get(self.path)
            if route is None:
                self.send_error(404, "Not Found")
                return
            status, ctype, body = route
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            # The oversized body is sent without Content-Length so that the client must stop while streaming.
            if self.path != "/big.html":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server = Server(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    state["server"] = server
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/article.html"


@pytest.fixture
def load_settings(tmp_path: Path) -> Settings:
    """Loader settings with a 1 MiB limit. Named apart from tests/conftest.py's `settings` so as not to shadow it
    (and its temporary store) for the other tests in this folder."""
    return Settings(store_path=tmp_path / "store", collection="test", max_file_mb=1.0, http_timeout=5.0,
                    include=[], exclude=[])


@pytest.fixture
def seed_path() -> Path:
    return SEED


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------------------
# PDFs
# --------------------------------------------------------------------------------------------------------------


def make_pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF showing `lines` in Helvetica (written by hand: pypdf cannot draw text)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "14 TL", "50 750 Td"]
    for ln in lines:
        ops += [f"({esc(ln)}) Tj", "T*"]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def encrypt_pdf(data: bytes, user_password: str, owner_password: str = "owner") -> bytes:
    """The same PDF encrypted with RC4 (pypdf does RC4 without the optional cryptography package)."""
    import io

    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def blank_pdf() -> bytes:
    """A valid PDF whose only page has no text."""
    import io

    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


class PdfMaker:
    """PDF builders handed to tests as a fixture (test modules should not import conftest by name)."""

    text = staticmethod(make_pdf)
    encrypted = staticmethod(encrypt_pdf)
    blank = staticmethod(blank_pdf)


@pytest.fixture
def pdf() -> PdfMaker:
    return PdfMaker()


@pytest.fixture
def stories() -> tuple[list[str], list[str]]:
    """The paragraphs of the two articles the HTTP server publishes."""
    return STORY_1, STORY_2


# --------------------------------------------------------------------------------------------------------------
# The fingerprint cache (ingest/fingerprints.py)
# --------------------------------------------------------------------------------------------------------------


def _cache_rows(settings: Settings, store) -> list[tuple]:
    """Everything the fingerprint cache holds after catching up, keyed by article id (band keys included)."""
    from ingest.fingerprints import Fingerprints

    fp = Fingerprints(settings, store)
    fp.sync()
    db = fp._conn()
    bands: dict[str, list[int]] = {}
    for key, aid in db.execute("SELECT b.key, a.id FROM band b JOIN article a ON a.n = b.n"):
        bands.setdefault(aid, []).append(key)
    rows = [(aid, h, p, n, th, bytes(sig), sorted(bands.get(aid, [])))
            for aid, h, p, n, th, sig in db.execute(
                "SELECT id, hash, pending, passages, text_hash, minhash FROM article ORDER BY id")]
    fp.close()
    return rows


def _rebuilt_rows(settings: Settings, store) -> list[tuple]:
    """What a cache rebuilt from every record holds: the reference a caught-up cache must equal."""
    from ingest.fingerprints import Fingerprints

    fresh = settings.with_overrides(cache_dir=Path(str(settings.resolved_cache_dir()) + "-rebuilt"))
    Fingerprints(fresh, store)._discard("test: rebuild from scratch")
    return _cache_rows(fresh, store)


@pytest.fixture
def cache_rows():
    """`cache_rows(settings, store)`: the fingerprint cache's rows after it caught up with the store."""
    return _cache_rows


@pytest.fixture
def rebuilt_rows():
    """`rebuilt_rows(settings, store)`: the rows of a fingerprint cache rebuilt from every record."""
    return _rebuilt_rows


# The real Chroma server and embedding server of tests/articleqa, for the parallel-ingest crash test.
from tests.articleqa.conftest import chroma_server, embed_server  # noqa: E402, F401
