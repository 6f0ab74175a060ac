"""Tests for ingest.clean: furniture stripping and metadata for the seed page, generic pages, Markdown, HTML and
JSON records, and the stable article id."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from articleqa.models import Article, RawDocument
from ingest.clean import CleanError, article_id, clean, normalize_url
from ingest.load import LoadError, load_inputs

FURNITURE = ["GaijinPot", "Facebook Connect", "Newsletter Signup", "Forgot password", "How to Buy a Home in Japan",
             "© Thomson Reuters", "0 Comments", "via REUTERS", "Login", "Register Today", "Savvy Tokyo", "©2025"]
SEED_TITLE = "China's Xi seeks closer coordination with North Korea in meeting with Kim"
REALTIMEQA = Path(__file__).resolve().parents[3] / "shared" / "data" / "realtimeqa-dev" / "corpus.jsonl"


# --------------------------------------------------------------------------------------------------------------
# the seed page
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def seed_article(seed_path, seed_text):
    return clean(RawDocument(origin=str(seed_path), text=seed_text))


def test_seed_metadata(seed_article):
    a = seed_article
    assert (a.title, a.date, a.source, a.author, a.dateline) == (SEED_TITLE, "2025-09-05", "Japan Today", "Liz Lee",
                                                                 "BEIJING")


def test_seed_text_boundaries(seed_article):
    text = seed_article.text
    assert text.startswith("China's President Xi Jinping called on Thursday")
    assert text.endswith('would not change "no matter how the international situation evolves."')


@pytest.mark.parametrize("furniture", FURNITURE)
def test_seed_furniture_is_gone(seed_article, furniture):
    assert furniture not in seed_article.text


def test_seed_keeps_every_story_paragraph(seed_article, seed_text):
    paragraphs = seed_article.text.split("\n")
    assert '"China\'s celebration is our celebration," he said.' in paragraphs
    last_but_one = 'On Wednesday, Kim vowed "full support" for Russia\'s army as a "fraternal duty" in a meeting ' \
        "with Putin."
    assert paragraphs[-2] == last_but_one
    assert len(paragraphs) == 17
    # Each kept paragraph is verbatim from the page, so citations can quote it.
    assert all(p in seed_text for p in paragraphs)
    assert seed_article.title not in seed_article.text


def test_seed_id_is_file_hash(seed_article, seed_path):
    expected = "file-" + hashlib.sha1(os.path.abspath(str(seed_path)).encode()).hexdigest()[:16]
    assert seed_article.id == expected
    assert seed_article.origin == str(seed_path)


def test_seed_cleaning_does_not_depend_on_the_copyright_line(seed_text):
    # Without the copyright lines the promotional lists must still be recognised as the end of the story.
    text = "\n".join(ln for ln in seed_text.split("\n") if "©" not in ln)
    a = clean(RawDocument(origin="page.txt", text=text))
    assert a.text.endswith('"no matter how the international situation evolves."')
    assert "GaijinPot" not in a.text and "Facebook" not in a.text and "webinar" not in a.text


def test_seed_through_the_loader(seed_path, load_settings):
    [raw] = list(load_inputs([str(seed_path)], load_settings))
    assert clean(raw).title == SEED_TITLE


# --------------------------------------------------------------------------------------------------------------
# other scraped pages (plain text, Markdown)
# --------------------------------------------------------------------------------------------------------------

GENERIC_PAGE = """Skip to main content
Home
World
Business
Big storm hits the coast of Examplestan overnight
By Jane Doe | Reuters
Published March 3, 2024
Advertisement
A flooded street in Port City on Sunday
Residents wade through a flooded street in Port City, Examplestan, March 3, 2024. REUTERS/John Smith
PORT CITY (Reuters) - A powerful storm struck the coast of Examplestan overnight, cutting power to thousands of \
homes and flooding low-lying streets, officials said on Sunday.
"We have never seen water this high," said one resident.
Rescue teams were working through the night to reach villages cut off by the flooding, the interior ministry \
said in a statement.
Share this article
Related stories
Storm season begins early
Five things to know about floods
How to prepare your home
Privacy Policy
We use cookies to improve your experience. By continuing you accept our cookie policy.
"""


def test_generic_page_without_copyright():
    a = clean(RawDocument(origin="storm.txt", text=GENERIC_PAGE))
    assert a.title == "Big storm hits the coast of Examplestan overnight"
    assert (a.author, a.date, a.dateline) == ("Jane Doe", "2024-03-03", "PORT CITY")
    assert a.text.split("\n") == [
        "A powerful storm struck the coast of Examplestan overnight, cutting power to thousands of homes and "
        "flooding low-lying streets, officials said on Sunday.",
        '"We have never seen water this high," said one resident.',
        "Rescue teams were working through the night to reach villages cut off by the flooding, the interior "
        "ministry said in a statement.",
    ]


def test_markdown_title_links_and_byline(tmp_path):
    md = """# Exampleton opens its new library

By Sam Writer

The new public library of Exampleton opened on Saturday with [a reading by local authors](https://x.test/r),
drawing a crowd of several hundred people to the renovated **market hall**.

![The reading room](img/room.jpg)

## A long wait

The project took nine years from the first plan to the opening, the city said.

Read more

Subscribe
"""
    a = clean(RawDocument(origin=str(tmp_path / "library.md"), text=md))
    assert a.title == "Exampleton opens its new library" and a.author == "Sam Writer"
    assert a.text.split("\n") == [
        "The new public library of Exampleton opened on Saturday with a reading by local authors, drawing a crowd "
        "of several hundred people to the renovated market hall.",
        "A long wait",
        "The project took nine years from the first plan to the opening, the city said.",
    ]


def test_hard_wrapped_text_is_joined_into_paragraphs():
    text = (
        "Officials in the northern province of Examplia confirmed on Tuesday that\n"
        "the dam, which had been damaged by heavy rain last month, was repaired\n"
        "and that the nearby villages could safely return to their homes now.\n\n"
        "The repairs cost about two million dollars, according to the ministry.\n"
    )
    a = clean(RawDocument(origin="wrapped.txt", text=text))
    assert a.text.count("\n") == 1
    assert a.text.startswith("Officials in the northern province of Examplia confirmed on Tuesday that the dam,")


def test_too_little_text_raises():
    with pytest.raises(CleanError, match="words"):
        clean(RawDocument(origin="short.txt", text="Home\nLogin\nJust a few words here.\n© 2024 Example Inc."))


# --------------------------------------------------------------------------------------------------------------
# HTML (trafilatura)
# --------------------------------------------------------------------------------------------------------------


def test_html_article_from_server(http_server, load_settings, stories):
    story, _ = stories
    [raw] = list(load_inputs([http_server.url("/article.html")], load_settings))
    a = clean(raw)
    assert a.title == "Council approves footbridge"
    assert (a.author, a.date, a.source, a.url) == ("Sam Writer", "2024-05-06", "Exampleton Gazette",
                                                    http_server.url("/article.html"))
    assert a.text.split("\n") == story
    for junk in ("Home", "Login", "Related stories", "Ten things", "Privacy Policy", "All rights reserved"):
        assert junk not in a.text
    assert a.id == "url-" + hashlib.sha1(normalize_url(raw.url).encode()).hexdigest()[:16]


def test_feed_hints_win_over_page_metadata(http_server, load_settings):
    docs = [d for d in load_inputs([http_server.url("/feed.rss")], load_settings) if not isinstance(d, LoadError)]
    a1 = clean(docs[0])
    assert a1.date == "2024-05-07"  # the feed's pubDate, not the page's 2024-05-06
    assert "Ana Reporter" in a1.author


def test_html_without_article_body_raises():
    html = ("<html><head><title>Menu</title></head>"
            "<body><nav><a href='/'>Home</a><a href='/x'>World</a></nav></body></html>")
    with pytest.raises(CleanError):
        clean(RawDocument(origin="nav.html", text=html, is_html=True))


# --------------------------------------------------------------------------------------------------------------
# JSON records: text is already the article, so only furniture lines go
# --------------------------------------------------------------------------------------------------------------

RECORD_TEXT = """Exampleton CNN —

Sign up for our Morning Brief newsletter to get the day's top stories in your inbox.

The regional parliament of Examplia approved a new budget on Thursday after weeks of debate, lawmakers said.

Sounds about right.

Lawmakers in the lower chamber (left) vote on the budget in Exampleton on Thursday. Jane Roe/Getty Images

Here is how the money is split:

Schools

Roads

Hospitals

BUDGET FIGHT:Why the opposition walked out of the chamber last month

The opposition said it would challenge the budget in court before the end of the year.

Read More

Follow Sam Writer on Twitter: @samwriter."""


def test_record_keeps_short_content_and_drops_furniture(tmp_path, load_settings):
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"doc_id": "rec-0000abcd1234", "url": "https://news.example.com/2022/06/12/budget",
                                "title": "Examplia passes its budget", "text": RECORD_TEXT,
                                "publish_date": "2022/06/12"}) + "\n", encoding="utf-8")
    [raw] = list(load_inputs([str(path)], load_settings))
    a = clean(raw)
    assert a.id == "rec-0000abcd1234"
    assert (a.title, a.date, a.url, a.dateline) == ("Examplia passes its budget", "2022-06-12",
                                                    "https://news.example.com/2022/06/12/budget", "Exampleton")
    assert a.source == "news.example.com"  # no source given: the host name stands in
    assert a.text.split("\n") == [
        "The regional parliament of Examplia approved a new budget on Thursday after weeks of debate, lawmakers said.",
        "Sounds about right.",
        "Here is how the money is split:",
        "Schools",
        "Roads",
        "Hospitals",
        "The opposition said it would challenge the budget in court before the end of the year.",
    ]


def test_record_dateline_prefix_and_headings_at_the_top():
    text = ("Exampleton, Examplia (CNN) The regional parliament approved a budget on Thursday after weeks of debate.\n"
            "Schools\nThe largest share goes to schools, which receive a third of all spending this year.")
    a = clean(RawDocument(origin="c.jsonl:3", text=text, title="T", source="CNN"))
    assert a.dateline == "Exampleton, Examplia" and a.source == "CNN"
    assert a.text.startswith("The regional parliament approved")
    assert "\nSchools\n" in a.text


def test_record_metadata_wins_over_guessed():
    text = "# Guessed title\n\n" + GENERIC_PAGE
    a = clean(RawDocument(origin="x.txt", text=text, title="Given title", date="2020-01-02", author="Given Author",
                          source="Given Source"))
    assert (a.title, a.date, a.author, a.source) == ("Given title", "2020-01-02", "Given Author", "Given Source")


@pytest.mark.skipif(not REALTIMEQA.exists(), reason="RealTimeQA corpus not available")
def test_realtimeqa_corpus_cleans_without_losing_content(load_settings):
    kept_words = total_words = 0
    for raw in load_inputs([str(REALTIMEQA)], load_settings.with_overrides(max_file_mb=20.0)):
        assert not isinstance(raw, LoadError), raw
        a = clean(raw)
        assert a.id == raw.doc_id and a.id.startswith("rtqa-")
        assert "Read More" not in a.text.split("\n")
        kept_words += len(a.text.split())
        total_words += len(raw.text.split())
    assert kept_words > 0.97 * total_words


# --------------------------------------------------------------------------------------------------------------
# ids
# --------------------------------------------------------------------------------------------------------------


def _article() -> Article:
    return Article(id="", text="")


def test_doc_id_is_kept_verbatim():
    raw = RawDocument(origin="c.jsonl:1", text="x", doc_id="rec-5b14cd16b6fe", url="https://x.test/a")
    assert article_id(raw, _article()) == "rec-5b14cd16b6fe"


def test_url_id_is_normalised():
    variants = [
        "https://News.Example.com/a/b/",
        "HTTPS://news.example.com/a/b#comments",
        "https://news.example.com/a/b?utm_source=rss&utm_medium=feed",
    ]
    ids = {article_id(RawDocument(origin=u, text="x", url=u), _article()) for u in variants}
    assert len(ids) == 1
    [only] = ids
    assert only == "url-" + hashlib.sha1(b"https://news.example.com/a/b").hexdigest()[:16]
    other = RawDocument(origin="o", text="x", url="https://news.example.com/a/b?page=2")
    assert article_id(other, _article()) != only


def test_file_id_uses_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = RawDocument(origin="story.txt", text="x")
    expected = "file-" + hashlib.sha1(str(tmp_path / "story.txt").encode()).hexdigest()[:16]
    assert article_id(raw, _article()) == expected


# --------------------------------------------------------------------------------------------------------------
# hostile metadata (bench/hostile_battery.py)
# --------------------------------------------------------------------------------------------------------------

BODY = ("The council of Exampleton voted on Monday to build a new footbridge over the Blue River, ending a long "
        "debate about how to connect the two halves of the town, officials said after the meeting.")


def test_megabyte_fields_are_cut_to_max_field_chars():
    """A page's <title>, a feed entry or a record can hold a megabyte; every passage would carry it."""
    from articleqa.settings import Settings

    raw = RawDocument(origin="r.jsonl:1", text=BODY, title="Bridge " * 200_000, author="A" * 500_000,
                      source="S" * 500_000)
    article = clean(raw, Settings(max_field_chars=100))
    assert len(article.title) <= 100 and article.title.endswith("…") and article.title.startswith("Bridge Bridge")
    assert len(article.author) <= 100 and len(article.source) <= 100
    page = f"<html><head><title>{'T' * 2_000_000}</title></head><body><article><p>{BODY}</p></article></body></html>"
    assert len(clean(RawDocument(origin="p.html", text=page, is_html=True)).title) <= 500


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<b>x</b>", "file:///etc/passwd",
                                 "ftp://host/a", "http://" + "u" * 5000, "   "])
def test_only_http_urls_of_sane_length_are_stored(url):
    article = clean(RawDocument(origin="r.jsonl:1", text=BODY, url=url))
    assert article.url == ""
    assert clean(RawDocument(origin="r.jsonl:1", text=BODY, url="https://x.test/a")).url == "https://x.test/a"


def test_invisible_and_bidi_marks_leave_fields():
    raw = RawDocument(origin="r.jsonl:1", text=BODY, title="\u202eevil\u202c \u200b\u200btitle\u200f\ufeff",
                      author="\x1b]0;pwned\x07Ana", source="\x00Src\x9b")
    article = clean(raw)
    assert article.title == "evil title" and article.author == "Ana" and article.source == "Src"
