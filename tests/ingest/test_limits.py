"""Every input under limits: HTTP deadlines and byte limits against a real hostile server on 127.0.0.1, bounded
HTML, JSONL lines that fail alone, capped passages, linear sentence splitting."""

from __future__ import annotations

import base64
import functools
import gzip
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from articleqa.models import Article, RawDocument
from articleqa.settings import Settings
from articleqa.text import split_sentences
from ingest.chunk import chunk
from ingest.clean import CleanError, clean
from ingest.limits import HtmlLimits, HtmlTooLarge, bound_html, check_html
from ingest.load import LoadError, load_inputs

GOOD = "The council of Exampleton voted on Monday to build a new footbridge over the Blue River, officials said. " * 3
PAGE = f"<html><head><title>Footbridge</title></head><body><article><p>{GOOD}</p></article></body></html>".encode()


@functools.cache
def _bomb() -> bytes:
    """512 MiB of zeros, gzip-compressed twice (about 1 KB)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    inner = b"".join(comp.compress(b"\0" * (1 << 20)) for _ in range(512)) + comp.flush()
    return gzip.compress(inner, 9)


@functools.cache
def _deflated() -> bytes:
    """Raw deflate (no zlib header, as some servers send it) of a small page."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(b"Plain words. " * 100) + comp.flush()


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[str, list[str]]]:
    """A server that drips a byte a second, streams for ever, or asks for a login (base URL, Authorization seen)."""
    auth_seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            auth_seen.append(self.headers.get("Authorization", ""))
            try:
                if self.path == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    for _ in range(120):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.5)
                elif self.path == "/drip-headers":  # the status line, then a header byte every 0.5 s
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(120):
                        self.wfile.write(b"X")
                        self.wfile.flush()
                        time.sleep(0.5)
                elif self.path in ("/gzip2", "/deflate"):  # a few KB on the wire, 512 MiB of zeros inflated
                    body, coding = (_bomb(), "gzip, gzip") if self.path == "/gzip2" else (_deflated(), "deflate")
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Encoding", coding)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path == "/endless":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    while True:
                        self.wfile.write(b"word " * 10000)
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(PAGE)))
                    self.end_headers()
                    self.wfile.write(PAGE)
            except OSError:  # the client gave up: that is the point
                return

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", auth_seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _load(inputs: list[str], **overrides: object) -> list[RawDocument | LoadError]:
    return list(load_inputs(inputs, Settings().with_overrides(**overrides)))


def test_slow_drip_url_stops_at_the_total_deadline(hostile):
    host, _ = hostile
    t = time.monotonic()
    got = _load([f"http://{host}/drip", f"http://{host}/page.html"], http_deadline=2.0, http_timeout=10.0)
    assert time.monotonic() - t < 8  # each read came within http_timeout; the whole was cut at http_deadline
    assert isinstance(got[0], LoadError) and "http_deadline 2 s" in got[0].reason
    assert isinstance(got[1], RawDocument)  # the run went on


def test_slow_drip_is_bounded_in_a_thread_without_signals(hostile):
    """The chat ingests in a worker thread, where no SIGALRM can interrupt a read: the deadline still holds."""
    host, _ = hostile
    box: dict[str, object] = {}
    t = time.monotonic()
    worker = threading.Thread(target=lambda: box.update(got=_load([f"http://{host}/drip"], http_deadline=2.0)))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive() and time.monotonic() - t < 10
    assert isinstance(box["got"][0], LoadError)


def test_endless_body_stops_at_the_byte_limit(hostile):
    host, _ = hostile
    got = _load([f"http://{host}/endless"], max_file_mb=1.0)
    assert isinstance(got[0], LoadError) and "max_file_mb 1" in got[0].reason


def test_credentials_are_sent_but_never_stored_or_shown(hostile):
    host, auth_seen = hostile
    got = _load([f"http://reader:s3cret@{host}/page.html"])
    doc = got[0]
    assert isinstance(doc, RawDocument)
    assert "s3cret" not in doc.origin and "s3cret" not in (doc.url or "")
    assert base64.b64encode(b"reader:s3cret").decode() in " ".join(auth_seen)
    article = clean(doc)
    assert "s3cret" not in json.dumps(article.__dict__)
    bad = _load(["http://reader:s3cret@127.0.0.1:1/nothing"])[0]
    assert isinstance(bad, LoadError) and "s3cret" not in str(bad)


def test_empty_argument_is_not_the_current_folder():
    got = _load([""])
    assert len(got) == 1 and isinstance(got[0], LoadError) and "empty input" in got[0].reason


def test_jsonl_bad_lines_fail_alone(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(
        b"\x00\x00\x00\n"
        + b'{"id": "big", "text": "x", "n": ' + b"9" * 5000 + b"}\n"
        + b'{"id": "sur", "text": "The mayor \\ud800 spoke on Monday about the bridge, officials said today."}\n'
        + b'{"id": "bad-utf8", "text": "caf\xe9"}\n'
        + json.dumps({"id": "good", "text": GOOD, "title": "A\u001b[2JB\u0000C"}).encode() + b"\n"
    )
    got = _load([str(f)])
    errors = {g.origin.rsplit(":", 1)[1]: g.reason for g in got if isinstance(g, LoadError)}
    assert set(errors) == {"1", "2", "4"}, errors
    assert "4300" in errors["2"] or "digits" in errors["2"]
    docs = {g.doc_id: g for g in got if isinstance(g, RawDocument)}
    assert set(docs) == {"sur", "good"}
    assert "\ufffd" in docs["sur"].text
    docs["sur"].text.encode("utf-8")  # storable
    assert clean(docs["good"]).title == "AB C"  # the ANSI sequence and NUL are gone


def test_bad_jsonl_lines_are_counted_past_max_bad_lines(tmp_path):
    f = tmp_path / "junk.jsonl"
    f.write_text("not json\n" * 50)
    got = _load([str(f)], max_bad_lines=5)
    assert len(got) == 6 and "45 more bad lines" in got[-1].reason


def test_deep_nesting_is_flattened_not_rejected():
    html = "<html><body>" + "<div>" * 10000 + f"<p>{GOOD}</p>" + "</div>" * 10000 + "</body></html>"
    article = clean(RawDocument(origin="deep.html", text=html, is_html=True))
    assert "footbridge" in article.text


def test_attribute_flood_is_cut_before_parsing():
    html = "<html><body><div " + " ".join(f'a{i}="v"' for i in range(100_000)) + f"><p>{GOOD}</p></div></body></html>"
    t = time.monotonic()
    article = clean(RawDocument(origin="attrs.html", text=html, is_html=True))
    assert time.monotonic() - t < 20 and "footbridge" in article.text


def test_normal_pages_are_not_rewritten():
    page = "<html><head><script>if (a<b) x='<div>'</script></head><body><p class=x>hi</p></body></html>"
    assert bound_html(page, HtmlLimits()) == page


def test_oversized_html_and_text_are_rejected_with_the_limit():
    with pytest.raises(CleanError, match="max_html_mb"):
        clean(RawDocument(origin="big.html", text="<p>" + "a " * 600_000 + "</p>", is_html=True),
              Settings(max_html_mb=1.0))
    with pytest.raises(CleanError, match="max_article_chars"):
        clean(RawDocument(origin="big.txt", text=GOOD * 100), Settings(max_article_chars=1000))


def test_text_without_sentence_ends_is_cut_into_capped_passages():
    text = "word " * 200_000
    passages = chunk(Article(id="x", text=text.strip()), max_chars=2000)
    assert max(len(p.text) for p in passages) <= 2000
    assert all(text[p.start : p.end] == p.text for p in passages)
    assert "".join(p.text for p in passages).replace(" ", "") == text.replace(" ", "")


def test_sentence_splitting_is_linear():
    def seconds(n: int) -> float:
        text = "".join(f"X{i % 10} ran. " for i in range(n))
        t = time.perf_counter()
        assert len(split_sentences(text)) == n
        return time.perf_counter() - t

    small, large = seconds(10_000), seconds(80_000)
    # 8x the input: linear is ~8x; the quadratic splitter was ~64x. Generous for a loaded machine.
    assert large < 30 * max(small, 0.01)
    assert seconds(1) >= 0 and split_sentences("." * 200_000 + "x")  # a run of dots is one linear pass


def test_a_stuck_input_is_cut_at_the_input_budget(tmp_path, monkeypatch):
    import ingest.load as load

    f = tmp_path / "slow.txt"
    f.write_text(GOOD)
    other = tmp_path / "other.txt"
    other.write_text(GOOD)
    real = load._load_bytes

    def slow(data, kind, origin, *args, **kwargs):
        if origin.endswith("slow.txt"):
            time.sleep(30)
        return real(data, kind, origin, *args, **kwargs)

    monkeypatch.setattr(load, "_load_bytes", slow)
    t = time.monotonic()
    got = _load([str(f), str(other)], input_budget=1.0)
    assert time.monotonic() - t < 10
    assert isinstance(got[0], LoadError) and "input_budget 1 s" in got[0].reason
    assert isinstance(got[1], RawDocument)


def test_headers_dripped_in_a_thread_stop_at_the_deadline(hostile):
    """No body chunk ever comes, so no cooperative check runs; only the deadline's timer can end the request."""
    host, _ = hostile
    box: dict[str, object] = {}
    t = time.monotonic()
    worker = threading.Thread(target=lambda: box.update(
        got=_load([f"http://{host}/drip-headers", f"http://{host}/page.html"], http_deadline=2.0, http_timeout=10.0)))
    worker.start()
    worker.join(timeout=40)
    assert not worker.is_alive() and time.monotonic() - t < 15
    first, second = box["got"]
    assert isinstance(first, LoadError) and "http_deadline 2 s" in first.reason
    assert isinstance(second, RawDocument)


def test_unclosed_raw_text_elements_are_scanned_once():
    """Each unclosed <style> used to search the rest of the page for its end tag: quadratic, hours for 1.4 MB."""
    page = f"<html><body><p>{GOOD}</p>" + "<style>" * 200_000
    t = time.monotonic()
    assert check_html(page, HtmlLimits(max_depth=4)).elements < 10
    assert time.monotonic() - t < 10


def test_a_page_with_too_many_elements_is_refused_before_parsing():
    page = "<html><body>" + "<p>a</p>" * 1_000_000 + f"<p>{GOOD}</p></body></html>"
    t = time.monotonic()
    with pytest.raises(HtmlTooLarge, match="max_html_elements 20,000"):
        check_html(page, HtmlLimits())
    with pytest.raises(CleanError, match="too many elements"):
        clean(RawDocument(origin="many.html", text=page, is_html=True))
    assert time.monotonic() - t < 10
    assert check_html("<p>a</p><br><img src=x><p>b</p>", HtmlLimits()).elements == 4


def test_large_pages_skip_the_quadratic_fallback_extractors():
    """6,000 one-letter paragraphs before the article: with jusText's rescue it took minutes under load."""
    page = "<html><body>" + "<p>a</p>" * 6000 + f"<article><h1>Footbridge</h1><p>{GOOD}</p></article></body></html>"
    t = time.monotonic()
    article = clean(RawDocument(origin="long.html", text=page, is_html=True))
    assert "footbridge" in article.text and time.monotonic() - t < 30


def test_a_compression_bomb_is_inflated_in_bounded_steps(hostile):
    """'Content-Encoding: gzip, gzip': httpx would inflate the inner layer in one call (512 MiB here, any size for
    a crafted body); the loader inflates a MiB at a time and stops at max_file_mb."""
    host, _ = hostile
    _bomb()  # made before measuring
    tracemalloc.start()
    try:
        got = _load([f"http://{host}/gzip2", f"http://{host}/page.html"], max_file_mb=5.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(got[0], LoadError) and "max_file_mb 5" in got[0].reason
    assert isinstance(got[1], RawDocument)
    assert peak < 60 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


def test_raw_deflate_without_a_zlib_header_is_decoded(hostile):
    host, _ = hostile
    got = _load([f"http://{host}/deflate"])
    assert isinstance(got[0], RawDocument) and got[0].text.startswith("Plain words.")


@given(data=st.binary(max_size=5000), zeros=st.integers(0, 200_000),
       coding=st.sampled_from(["gzip", "deflate", "raw-deflate", "gzip, gzip", "x-gzip", "", "identity"]),
       steps=st.lists(st.integers(1, 70_000), min_size=1, max_size=8))
@hyp_settings(max_examples=60, deadline=None)
def test_inflating_in_steps_gives_back_the_body(data, zeros, coding, steps):
    """Whatever the coding and however the network splits the body, the bounded inflater returns the exact bytes."""
    from ingest.load import _Inflate

    raw = data + b"\0" * zeros
    if coding in ("gzip", "x-gzip"):
        body = gzip.compress(raw)
    elif coding == "deflate":
        body = zlib.compress(raw)
    elif coding == "raw-deflate":
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        body, coding = comp.compress(raw) + comp.flush(), "deflate"
    elif coding == "gzip, gzip":
        body = gzip.compress(gzip.compress(raw))
    else:
        body = raw
    inflate, out, pos, k = _Inflate(coding, 10**9, "too large"), [], 0, 0
    while pos < len(body):
        step = steps[k % len(steps)]
        out.append(inflate.feed(body[pos : pos + step]))
        pos, k = pos + step, k + 1
    assert b"".join(out) == raw
