"""Tests for ingest.load: files, folders, PDFs, JSON records, URLs and feeds, and every kind of bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from articleqa.models import RawDocument
from ingest.load import SUPPORTED_EXTENSIONS, LoadError, load_inputs, normalize_date
from tests.ingest.conftest import STORY_1, STORY_2


def load(inputs: list[str | Path], load_settings) -> list[RawDocument | LoadError]:
    return list(load_inputs([str(i) for i in inputs], load_settings))


def one(inputs, load_settings) -> RawDocument | LoadError:
    items = load(inputs if isinstance(inputs, list) else [inputs], load_settings)
    assert len(items) == 1, items
    return items[0]


def error(inputs, load_settings) -> LoadError:
    item = one(inputs, load_settings)
    assert isinstance(item, LoadError), item
    return item


# --------------------------------------------------------------------------------------------------------------
# plain files
# --------------------------------------------------------------------------------------------------------------


def test_supported_extensions():
    assert {".txt", ".md", ".html", ".htm", ".pdf", ".json", ".jsonl"} <= SUPPORTED_EXTENSIONS


def test_seed_text_file(load_settings, seed_path):
    doc = one(seed_path, load_settings)
    assert isinstance(doc, RawDocument)
    assert doc.origin == str(seed_path)
    assert not doc.is_html and doc.url is None
    assert doc.text.startswith(" date 2025-09-05")
    assert "China's President Xi Jinping called on Thursday" in doc.text


def test_markdown_and_html_files(tmp_path, load_settings):
    (tmp_path / "a.md").write_text("# Title\n\nBody text here.\n", encoding="utf-8")
    (tmp_path / "b.htm").write_text("<html><body><p>Hello</p></body></html>", encoding="utf-8")
    md, html = load([tmp_path / "a.md", tmp_path / "b.htm"], load_settings)
    assert not md.is_html and md.text.startswith("# Title")
    assert html.is_html and "<p>Hello</p>" in html.text


def test_utf8_bom_is_removed(tmp_path, load_settings):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffCafé au lait".encode())
    assert one(path, load_settings).text == "Café au lait"


def test_latin1_file_is_accepted_when_plausible(tmp_path, load_settings):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Le café de la gare a rouvert ses portes à Noël, dit le maire.".encode("latin-1"))
    doc = one(path, load_settings)
    assert isinstance(doc, RawDocument)
    assert "café" in doc.text and "Noël" in doc.text


def test_cp1252_quotes_are_decoded(tmp_path, load_settings):
    path = tmp_path / "win.txt"
    path.write_bytes("“Quoted,” she said – it’s fine.".encode("cp1252"))
    assert one(path, load_settings).text == "“Quoted,” she said – it’s fine."


def test_invalid_utf8_junk_is_rejected(tmp_path, load_settings):
    path = tmp_path / "junk.txt"
    path.write_bytes(bytes(range(0x80, 0x100)) * 4 + b"abc")
    err = error(path, load_settings)
    assert "invalid UTF-8" in err.reason and err.origin == str(path)


def test_damaged_utf8_is_rejected_not_mojibaked(tmp_path, load_settings):
    path = tmp_path / "damaged.txt"
    path.write_bytes("Café in Zürich – ".encode() + b"\xff broken")
    assert "invalid UTF-8" in error(path, load_settings).reason


def test_binary_file_is_rejected(tmp_path, load_settings):
    path = tmp_path / "data.txt"
    path.write_bytes(b"ELF\x00\x01\x02\x00\x00binary")
    assert "binary" in error(path, load_settings).reason


@pytest.mark.parametrize("content", [b"", b"   \n\n\t  \n"])
def test_empty_file_is_rejected(tmp_path, load_settings, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    assert error(path, load_settings).reason == "empty file"


def test_missing_path(load_settings):
    err = error("/no/such/file.txt", load_settings)
    assert err.origin == "/no/such/file.txt" and "no such file" in err.reason
    assert str(err) == "/no/such/file.txt: no such file or directory"


def test_unsupported_extension_given_explicitly(tmp_path, load_settings):
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK\x03\x04")
    err = error(path, load_settings)
    assert "unsupported file type '.docx'" in err.reason


def test_file_over_size_limit(tmp_path, load_settings):
    path = tmp_path / "big.txt"
    path.write_text("word " * 300_000, encoding="utf-8")  # 1.4 MiB > 1 MiB
    err = error(path, load_settings.with_overrides(max_file_mb=1.0))
    assert "too large" in err.reason and "max_file_mb 1" in err.reason


def test_bad_inputs_do_not_stop_the_run(tmp_path, load_settings):
    (tmp_path / "ok.txt").write_text("fine", encoding="utf-8")
    items = load(["/missing.txt", tmp_path / "ok.txt", tmp_path / "nope.pdf"], load_settings)
    assert [type(i).__name__ for i in items] == ["LoadError", "RawDocument", "LoadError"]


# --------------------------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "articles"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    for rel in ["b.txt", "a.md", "sub/c.html", "sub/deeper/d.txt", "sub/skip.txt", "notes.docx", "image.png",
                ".git/e.txt", ".hidden.txt"]:
        (root / rel).write_text(f"text of {rel}", encoding="utf-8")
    return root


def test_folder_is_recursive_sorted_and_skips_unsupported(folder, load_settings):
    items = load([folder], load_settings)
    assert all(isinstance(i, RawDocument) for i in items)  # .docx/.png/hidden skipped without a report
    names = [Path(i.origin).relative_to(folder).as_posix() for i in items]
    assert names == ["a.md", "b.txt", "sub/c.html", "sub/deeper/d.txt", "sub/skip.txt"]


def test_folder_include_and_exclude(folder, load_settings):
    only_txt = load([folder], load_settings.with_overrides(include=["*.txt"], exclude=["skip.txt"]))
    assert [Path(i.origin).name for i in only_txt] == ["b.txt", "d.txt"]
    by_path = load([folder], load_settings.with_overrides(exclude=["sub/*"]))
    assert [Path(i.origin).name for i in by_path] == ["a.md", "b.txt"]


# --------------------------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------------------------


def test_pdf_text_is_extracted_and_reflowed(tmp_path, load_settings, pdf):
    path = tmp_path / "story.pdf"
    path.write_bytes(pdf.text(["Officials in Exampleton said on Monday that the new", "bridge will open in May.",
                               "A second paragraph starts here."]))
    doc = one(path, load_settings)
    assert isinstance(doc, RawDocument), doc
    assert "said on Monday that the new bridge will open in May." in doc.text
    assert "A second paragraph starts here." in doc.text


def test_encrypted_pdf_needs_password(tmp_path, load_settings, pdf):
    path = tmp_path / "locked.pdf"
    path.write_bytes(pdf.encrypted(pdf.text(["Secret text of the article goes here."]), user_password="secret"))
    assert error(path, load_settings).reason.startswith("encrypted PDF")


def test_owner_only_encrypted_pdf_is_readable(tmp_path, load_settings, pdf):
    path = tmp_path / "owner.pdf"
    path.write_bytes(pdf.encrypted(pdf.text(["Readable text of the article goes here."]), user_password=""))
    doc = one(path, load_settings)
    assert isinstance(doc, RawDocument) and "Readable text" in doc.text


def test_corrupt_pdf(tmp_path, load_settings):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog garbage")
    assert error(path, load_settings).reason.startswith("corrupt PDF")


def test_pdf_without_text(tmp_path, load_settings, pdf):
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdf.blank())
    assert "no extractable text" in error(path, load_settings).reason


# --------------------------------------------------------------------------------------------------------------
# JSON records
# --------------------------------------------------------------------------------------------------------------


def test_jsonl_records_and_errors_name_the_line(tmp_path, load_settings):
    path = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps({"doc_id": "rtqa-1", "text": "First article.", "title": "One", "url": "https://x.test/1",
                    "publish_date": "2022/06/16", "source": "X", "author": "A"}),
        '{"id": "broken", "text": "unterminated',
        "",
        json.dumps({"id": 7, "text": "Second article.", "date": "2022-06-17T10:00:00Z"}),
        json.dumps({"id": "no-text", "title": "Only a title"}),
        json.dumps({"id": "blank", "text": "   "}),
        json.dumps(["not", "an", "object"]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = load([path], load_settings)
    assert len(items) == 6
    first, bad, second, no_text, blank, not_obj = items
    assert first == RawDocument(origin=f"{path}:1", text="First article.", doc_id="rtqa-1", title="One",
                                url="https://x.test/1", date="2022-06-16", source="X", author="A")
    assert isinstance(bad, LoadError) and bad.origin == f"{path}:2" and bad.reason.startswith("invalid JSON: ")
    assert str(bad).startswith(f"{path}:2: invalid JSON")
    assert second.origin == f"{path}:4" and second.doc_id == "7" and second.date == "2022-06-17"
    assert no_text.origin == f"{path}:5" and "non-empty 'text'" in no_text.reason
    assert blank.origin == f"{path}:6" and "non-empty 'text'" in blank.reason
    assert not_obj.origin == f"{path}:7" and "object" in not_obj.reason


def test_json_list_and_single_object(tmp_path, load_settings):
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"text": "A."}, {"text": ""}, {"text": "<html><body><p>B</p></body></html>"}]))
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"text": "Only one.", "doc_id": "d1"}))
    a, missing, b, s = load([many, single], load_settings)
    assert a.origin == f"{many}[0]" and a.text == "A."
    assert isinstance(missing, LoadError) and missing.origin == f"{many}[1]"
    assert b.origin == f"{many}[2]" and b.is_html
    assert s.origin == str(single) and s.doc_id == "d1"


def test_broken_json_file_names_the_line(tmp_path, load_settings):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"text": "ok"},\n  {"text": oops}\n]\n', encoding="utf-8")
    err = error(path, load_settings)
    assert err.origin == f"{path}:3" and err.reason.startswith("invalid JSON: ")


# --------------------------------------------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2022/06/16", "2022-06-16"),
        ("2022-06-16T10:00:00Z", "2022-06-16"),
        ("2022-6-1", "2022-06-01"),
        ("20220616", "2022-06-16"),
        ("Thu, 04 Sep 2025 23:30:00 -0700", "2025-09-04"),
        ("Wed, 08 May 2024 18:00:00 GMT", "2024-05-08"),
        ("September 4, 2025", "2025-09-04"),
        ("Sept. 4, 2025", "2025-09-04"),
        ("4 September 2025", "2025-09-04"),
        ("Thursday, 4 Sep 2025", "2025-09-04"),
        ("2022-13-01", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_normalize_date(value, expected):
    assert normalize_date(value) == expected


def test_normalize_date_struct_time():
    assert normalize_date(time.strptime("2024-02-29", "%Y-%m-%d")) == "2024-02-29"


# --------------------------------------------------------------------------------------------------------------
# URLs and feeds (local server on 127.0.0.1)
# --------------------------------------------------------------------------------------------------------------


def test_html_url(http_server, load_settings):
    url = http_server.url("/article.html")
    doc = one(url, load_settings)
    assert isinstance(doc, RawDocument)
    assert doc.is_html and doc.url == url and doc.origin == url
    assert "footbridge" in doc.text
    assert http_server.user_agents[-1].startswith("articleqa/0.1")


def test_redirect_is_followed_and_final_url_kept(http_server, load_settings):
    doc = one(http_server.url("/redirect"), load_settings)
    assert doc.origin == http_server.url("/redirect")
    assert doc.url == http_server.url("/article.html")


def test_plain_text_url(http_server, load_settings):
    doc = one(http_server.url("/plain.txt"), load_settings)
    assert not doc.is_html and doc.text.startswith("Farmers in the Green Valley")


@pytest.mark.parametrize("path", ["/feed.rss", "/feed-as-xml"])
def test_rss_feed_fetches_each_entry(http_server, load_settings, path):
    items = load([http_server.url(path)], load_settings)
    assert len(items) == 3
    first, second, gone = items
    assert first.url == http_server.url("/a1.html") and first.is_html
    assert first.title == "Council approves footbridge"
    assert first.date == "2024-05-07"
    assert first.author == "Ana Reporter"
    assert second.url == http_server.url("/a2.html")  # relative link resolved against the feed
    assert second.date == "2024-05-08" and second.title == "Record apple harvest"
    # One entry failing does not stop the feed; it is reported under the entry's link.
    assert isinstance(gone, LoadError) and gone.origin == http_server.url("/missing") and "404" in gone.reason


def test_atom_feed(http_server, load_settings):
    doc = one(http_server.url("/atom.xml"), load_settings)
    assert isinstance(doc, RawDocument)
    assert doc.url == http_server.url("/a2.html")
    assert doc.title == "Record apple harvest" and doc.author == "Pat Grower" and doc.date == "2024-05-08"


def test_feed_without_entries(http_server, load_settings):
    assert "no entries" in error(http_server.url("/empty.rss"), load_settings).reason


def test_http_404(http_server, load_settings):
    err = error(http_server.url("/nothing-here"), load_settings)
    assert err.reason == "HTTP 404 Not Found"


def test_unreachable_url(closed_port_url, load_settings):
    err = error(closed_port_url, load_settings)
    assert err.origin == closed_port_url and err.reason.startswith("unreachable")


def test_unresolvable_host(load_settings):
    err = error("http://articleqa-test.invalid/x", load_settings.with_overrides(http_timeout=3.0))
    assert err.reason.startswith("unreachable")


def test_response_over_size_limit_is_abandoned(http_server, load_settings):
    err = error(http_server.url("/big.html"), load_settings.with_overrides(max_file_mb=0.01))
    assert "too large" in err.reason


def test_unsupported_content_type_and_empty_body(http_server, load_settings):
    assert "unsupported content type 'image/png'" in error(http_server.url("/image.png"), load_settings).reason
    assert error(http_server.url("/empty.html"), load_settings).reason == "empty response"


# --------------------------------------------------------------------------------------------------------------
# hostile inputs (bench/hostile_battery.py): what is not a file, names that are not UTF-8, labels that lie
# --------------------------------------------------------------------------------------------------------------


def test_fifo_and_device_links_are_refused_at_once(tmp_path, load_settings):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)  # nobody writes it: reading would block the run for ever
    (tmp_path / "zero.txt").symlink_to("/dev/zero")  # reading would never end
    good = tmp_path / "good.txt"
    good.write_text("\n\n".join(["Bridge vote", *STORY_1]))
    t = time.monotonic()
    items = load([fifo, tmp_path / "zero.txt", good], load_settings)
    assert time.monotonic() - t < 10
    assert [type(i).__name__ for i in items] == ["LoadError", "LoadError", "RawDocument"]
    assert items[0].reason == "not a regular file (a named pipe)"
    assert items[1].reason == "not a regular file (a device)"


def test_a_folder_skips_pipes_and_links_that_loop(tmp_path, load_settings):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "a.txt").write_text("\n\n".join(["Bridge vote", *STORY_1]))
    os.mkfifo(folder / "pipe.txt")
    (folder / "up").symlink_to("..")  # a link back up: following it would walk for ever
    (folder / "self.txt").symlink_to("self.txt")
    items = load([folder], load_settings)
    assert [i.origin for i in items] == [str(folder / "a.txt")]


def test_a_looping_link_and_other_url_schemes_say_what_they_are(tmp_path, load_settings):
    (tmp_path / "loop.txt").symlink_to("loop.txt")
    assert error(tmp_path / "loop.txt", load_settings).reason == "broken or looping symbolic link"
    for url, scheme in [("ftp://127.0.0.1/a.txt", "ftp:"), ("file:///etc/passwd", "file:"),
                        ("data:text/html,<p>hi</p>", "data:"), ("javascript:alert(1)", "javascript:")]:
        err = error(url, load_settings)
        assert err.reason.startswith(f"unsupported URL scheme '{scheme}'"), err


def test_a_folder_nested_deeper_than_the_recursion_limit(tmp_path, load_settings):
    path = tmp_path / "deep"
    path.mkdir()
    try:
        for _ in range(1200):  # deeper than Python's recursion limit, within PATH_MAX
            path = path / "d"
            path.mkdir()
        (path / "bottom.txt").write_text("\n\n".join(["Bridge vote", *STORY_1]))
        items = load([tmp_path / "deep"], load_settings)
        assert len(items) == 1 and isinstance(items[0], RawDocument) and items[0].origin.endswith("bottom.txt")
    finally:  # shutil.rmtree (and so pytest's own clean-up of old runs) recurses: too deep for it
        subprocess.run(["rm", "-rf", str(tmp_path / "deep")], check=False)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder other users can enter (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="articleqa-test-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["chmod", "-R", "u+rwX", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


def test_an_unreadable_subfolder_is_one_line_and_the_rest_loads(shared_tmp):
    """Run as `nobody` (root reads every folder): the locked subfolder is named, its sibling still loads."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to run the loader as another user with setpriv")
    folder = shared_tmp / "news"
    (folder / "locked").mkdir(parents=True)
    (folder / "ok.txt").write_text("\n\n".join(["Bridge vote", *STORY_1]))
    (folder / "locked" / "x.txt").write_text("\n\n".join(["Apple harvest", *STORY_2]))
    (folder / "locked").chmod(0)
    folder.chmod(0o755)
    code = ("import sys; from articleqa.settings import Settings; from ingest.load import load_inputs; "
            "print('\\n'.join(f'{type(i).__name__}|{i.origin}|{getattr(i, \"reason\", \"\")}' "
            "for i in load_inputs([sys.argv[1]], Settings(store_path='/tmp/unused-store'))))")
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                        str(folder)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root),
                                                                            "HOME": "/tmp"}, timeout=120)
    if p.returncode != 0 and "Permission denied" in p.stderr and "python" in p.stderr.lower():
        pytest.skip(f"nobody cannot run this Python: {p.stderr.strip()[-200:]}")
    lines = p.stdout.split("\n")
    assert f"LoadError|{folder / 'locked'}|cannot read folder: Permission denied" in lines, p.stdout + p.stderr
    assert any(ln.startswith(f"RawDocument|{folder / 'ok.txt'}|") for ln in lines), p.stdout + p.stderr


def test_a_file_name_that_is_not_utf8(tmp_path, load_settings):
    from ingest.clean import article_id, clean

    raw_name = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    with open(raw_name, "wb") as fh:
        fh.write("\n\n".join(["Bridge vote", *STORY_1]).encode())
    doc = one(os.fsdecode(raw_name), load_settings)
    article = clean(doc, load_settings)
    assert "\ufffd" in article.origin and not any("\ud800" <= c <= "\udfff" for c in article.origin)
    assert article.id == article_id(doc, article) and article.id.startswith("file-")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-be"])
def test_text_with_a_byte_order_mark_is_decoded(tmp_path, load_settings, encoding):
    text = "\n\n".join(["Bridge vote", *STORY_1])
    data = text.encode(encoding) if encoding != "utf-16-be" else b"\xfe\xff" + text.encode(encoding)
    (tmp_path / "a.txt").write_bytes(data)
    doc = one(tmp_path / "a.txt", load_settings)
    assert isinstance(doc, RawDocument) and doc.text.startswith("Bridge vote")


@pytest.mark.parametrize("label", ["utf-16", "utf-7", "utf-32"])
def test_a_charset_label_that_ascii_cannot_be_read_in_is_ignored(tmp_path, load_settings, label):
    html = "<html><head><meta charset='{}'><title>Bridge vote</title></head><body><p>{}</p></body></html>".format(
        label, " ".join(STORY_1))
    (tmp_path / "a.html").write_text(html)
    doc = one(tmp_path / "a.html", load_settings)
    assert isinstance(doc, RawDocument) and "footbridge over the Blue River" in doc.text


@pytest.mark.parametrize("path", ["/label-utf16.html", "/label-utf7.html"])
def test_an_http_charset_that_lies_is_ignored(http_server, load_settings, path):
    doc = one(http_server.url(path), load_settings)
    assert isinstance(doc, RawDocument) and "footbridge over the Blue River" in doc.text


def test_a_feed_is_fetched_up_to_max_feed_entries(http_server, load_settings):
    before = len(http_server.user_agents)
    items = load([http_server.url("/many-entries.rss")], load_settings.with_overrides(max_feed_entries=7,
                                                                                        max_bad_lines=3))
    assert len(http_server.user_agents) - before == 1 + 7  # the feed, then 7 entries, not 300
    reasons = [i.reason for i in items]
    assert reasons[0] == "feed has 300 entries; only the first 7 are fetched (max_feed_entries 7)"
    assert reasons[1:4] == ["HTTP 404 Not Found"] * 3
    assert reasons[4:] == ["4 more bad entries not shown (max_bad_lines 3)"]


def test_bad_records_of_a_json_list_are_counted_past_max_bad_lines(tmp_path, load_settings):
    (tmp_path / "a.json").write_text(json.dumps([{"title": f"t{i}"} for i in range(500)]))
    items = load([tmp_path / "a.json"], load_settings.with_overrides(max_bad_lines=5))
    assert len(items) == 6 and items[-1].reason == "495 more bad records not shown (max_bad_lines 5)"


def test_a_url_longer_than_max_url_chars(http_server, load_settings):
    url = http_server.url("/article.html?" + "q" * 5000)
    err = error(url, load_settings)
    assert err.reason == "URL too long (5,040 characters > max_url_chars 4,096)".replace(
        "5,040", f"{len(url):,}")
    assert len(err.origin) <= 200


def test_a_host_name_idna_cannot_encode_is_an_invalid_url(load_settings):
    err = error("http://xn--a.invalid/", load_settings)
    assert err.reason.startswith("invalid URL (")
