"""The chat in the real Chromium: cited answers with highlights, marker navigation, upload, and XSS-inert rendering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.app.conftest import free_port, start_server, stop_server, wait_until_up

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ANSWER_TIMEOUT = 90_000  # ms; the first question of a fresh server may still wait for the model warm-up

XSS_TITLE = "<script>alert(1)</script> Pier <img src=x onerror=alert(1)> report"
XSS_RECORD = {
    "id": "xss-test",
    "title": XSS_TITLE,
    "text": "The harbour master Ana Ribeiro said the <img src=x onerror=alert(2)> ferry pier reopened on Monday "
            "after repairs.\nRead more at [click](javascript:alert(3)) and ${alert(5)} {{constructor}}, she said.\n"
            "<script>alert(4)</script> Ribeiro said the pier repairs cost 40 million euros.",
    "source": "<b>Evil</b> Source",
    "url": "javascript:alert(1)",
    "publish_date": "2025-09-01",
}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server) -> Iterator:
    """A fresh page on the app that records dialogs and any request leaving 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1360, "height": 640})
    pg = context.new_page()
    pg.dialogs, pg.outside = [], []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("request", lambda r: pg.outside.append(r.url) if urlsplit(r.url).hostname not in ("127.0.0.1", None)
          and not r.url.startswith(("data:", "blob:")) else None)
    pg.goto(app_server.url)
    pg.locator("#aqa-question textarea").wait_for()
    yield pg
    assert pg.outside == [], f"the page contacted other hosts: {pg.outside}"
    context.close()


def ask(page, question: str) -> None:
    """Submit a question and wait until the final answer's source cards (or refusal panel) are shown."""
    before = page.locator("#aqa-chat .message-row").count()
    page.locator("#aqa-question textarea").fill(question)
    page.locator("#aqa-send").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#aqa-chat .message-row').length >= n + 2", arg=before, timeout=ANSWER_TIMEOUT
    )
    page.locator("#aqa-sources .aqa-card mark, #aqa-sources .aqa-near").first.wait_for(timeout=ANSWER_TIMEOUT)


def last_answer(page) -> str:
    return page.locator("#aqa-chat .message-row").last.inner_text()


def test_seed_question_shows_answer_and_highlighted_source(page, artifacts):
    ask(page, "Who accompanied Kim?")
    assert "Kim Yo Jong" in last_answer(page)
    mark = page.locator("#aqa-sources #src-1 mark")
    assert "Kim Yo Jong" in mark.inner_text()
    assert "Japan Today" in page.locator("#src-1 .aqa-meta").inner_text()
    page.get_by_text("Details", exact=True).click()
    expect(page.locator("#aqa-details")).to_contain_text("Search query")
    expect(page.locator("#aqa-details")).to_contain_text("total")
    page.screenshot(path=str(artifacts / "chat-seed-answer.png"), full_page=True)


def test_marker_click_brings_card_into_view(page, artifacts):
    ask(page, "Who accompanied Kim?")
    markers = page.locator("#aqa-chat a.aqa-cite")
    assert markers.count() >= 1
    marker = markers.last
    n = marker.inner_text().strip("[]")
    card = page.locator(f"#src-{n}")
    page.evaluate("() => { window.scrollTo(0, 0); document.getElementById('aqa-sources').scrollTop = 0; }")
    marker.scroll_into_view_if_needed()
    pages_before = len(page.context.pages)
    marker.click()
    expect(card).to_be_in_viewport(ratio=0.9)
    assert len(page.context.pages) == pages_before, "a marker must not open a new tab"
    page.screenshot(path=str(artifacts / "chat-marker-scrolled.png"))
    markers.first.click()
    expect(page.locator("#src-1")).to_be_in_viewport(ratio=0.9)


def test_upload_then_ask(page, artifacts, tmp_path):
    path = tmp_path / "lisbon-ferry.md"
    path.write_text(
        "# Lisbon adds night ferries across the Tagus\n\n"
        "Lisbon's transport authority said on Monday that night ferries across the Tagus will start on 3 November.\n\n"
        "The harbour councillor Beatriz Almeida said the night ferries would run every 40 minutes until 3 a.m.\n"
    )
    page.get_by_role("tab", name="Articles").click()
    page.locator("#aqa-upload input[type=file]").set_input_files(str(path))
    page.locator("#aqa-upload").get_by_text("lisbon-ferry.md").first.wait_for()
    page.locator("#aqa-ingest").click()
    result = page.locator("#aqa-ingest-result")
    result.get_by_text("Ingest finished").wait_for(timeout=ANSWER_TIMEOUT)
    assert "1 added" in result.inner_text() and "lisbon-ferry.md" in result.inner_text()
    page.locator("#aqa-table").get_by_text("Lisbon adds night ferries across the Tagus").wait_for()
    page.screenshot(path=str(artifacts / "articles-after-upload.png"), full_page=True)

    page.get_by_role("tab", name="Chat").click()
    ask(page, "How often will the night ferries run?")
    assert "40 minutes" in last_answer(page)
    assert "Lisbon adds night ferries" in page.locator("#src-1 .aqa-title").inner_text()
    assert "40 minutes" in page.locator("#src-1 mark").inner_text()
    page.screenshot(path=str(artifacts / "chat-uploaded-article.png"), full_page=True)

    # delete it again through the confirmation step
    page.get_by_role("tab", name="Articles").click()
    page.locator("#aqa-table").get_by_text("Lisbon adds night ferries across the Tagus").click()
    page.locator("#aqa-delete").click()
    expect(page.locator("#aqa-confirm")).to_contain_text("Delete 1 article(s)?")
    expect(page.locator("#aqa-confirm")).to_contain_text("Lisbon adds night ferries")
    page.screenshot(path=str(artifacts / "articles-delete-confirm.png"), full_page=True)
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("#aqa-delete-result")).to_contain_text("Deleted 1 article(s).")
    expect(page.locator("#aqa-table")).not_to_contain_text("Lisbon adds night ferries")
    expect(page.locator("#aqa-table")).to_contain_text("China's Xi seeks closer coordination")


def test_first_run_panel_loads_the_sample(browser, artifacts, tmp_path):
    port = free_port()
    proc = start_server(tmp_path / "empty-store", port)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, proc)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(url)
        welcome = page.locator("#aqa-welcome")
        expect(welcome).to_be_visible()
        expect(welcome).to_contain_text("no articles are stored yet")
        page.screenshot(path=str(artifacts / "first-run-welcome.png"), full_page=True)
        page.get_by_role("button", name="Load the bundled sample article").click()
        expect(welcome).to_be_hidden(timeout=ANSWER_TIMEOUT)
        ask(page, "Who accompanied Kim?")
        assert "Kim Yo Jong" in last_answer(page)
        page.close()
    finally:
        stop_server(proc)


def test_untrusted_article_renders_as_inert_text(page, app_server, artifacts, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "xss.json"
    path.write_text(json.dumps(XSS_RECORD))
    report = app_server.client().predict(files=[handle_file(str(path))], urls="", api_name="/ingest")
    assert report["counts"]["added"] + report["counts"]["unchanged"] == 1, report
    page.reload()
    page.locator("#aqa-question textarea").wait_for()

    ask(page, "Who said the ferry pier reopened?")
    page.wait_for_timeout(1500)  # give any injected handler (onerror fires on load) time to run
    assert page.dialogs == []
    injected = page.evaluate("""() => ({
        imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
        scripts: [...document.scripts].filter(s => s.textContent.includes('alert(')).length,
        jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
        bold: [...document.querySelectorAll('#aqa-sources b, #aqa-chat b')].length,
    })""")
    assert injected == {"imgs": 0, "scripts": 0, "jsLinks": 0, "bold": 0}
    card = page.locator("#src-1").inner_text()
    assert XSS_TITLE in card
    assert "<img src=x onerror=alert(2)>" in card and "[click](javascript:alert(3))" in card
    assert "${alert(5)}" in card and "<b>Evil</b> Source" in card
    assert "<img src=x onerror=alert(2)>" in last_answer(page)
    assert page.locator("#src-1 .aqa-title a").count() == 0, "a javascript: URL must not become a link"
    page.screenshot(path=str(artifacts / "chat-xss-inert.png"), full_page=True)

    page.get_by_role("tab", name="Articles").click()
    page.locator("#aqa-table").get_by_text("Pier <img src=x", exact=False).first.wait_for()
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
    assert page.dialogs == []


HARBOUR_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Porto opens a tidal museum | Harbour Post</title>
<meta property="og:title" content="Porto opens a tidal museum"><meta property="og:site_name" content="Harbour Post">
<meta name="author" content="Rui Costa"><meta property="article:published_time" content="2025-10-02T08:00:00Z">
</head><body><header><nav><a href="/">Home</a> <a href="/login">Login</a></nav></header>
<main><article><h1>Porto opens a tidal museum</h1><p class="byline">By Rui Costa</p>
<p>Porto opened a museum about the tides of the Douro estuary on Wednesday, the city council said.</p>
<p>The museum's director, Helena Marques, said the building holds a working tide mill from 1820.</p>
<p>Entry will be free for schoolchildren until the end of the year, according to the council.</p>
</article></main><footer><p>Copyright 2025 Harbour Post. All rights reserved.</p></footer></body></html>"""


@pytest.fixture
def article_site() -> Iterator[str]:
    """A local news site on 127.0.0.1: /porto-museum.html is an article page, anything else is a 404."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            if self.path != "/porto-museum.html":
                self.send_error(404, "Not Found")
                return
            body = HARBOUR_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_url_ingest_from_the_articles_tab(page, artifacts, article_site):
    good, missing = f"{article_site}/porto-museum.html", f"{article_site}/gone.html"
    page.get_by_role("tab", name="Articles").click()
    page.locator("#aqa-urls textarea").fill(f"{good}\n# a comment line is skipped\n{missing}")
    page.locator("#aqa-ingest").click()
    result = page.locator("#aqa-ingest-result")
    result.get_by_text("Ingest finished").wait_for(timeout=ANSWER_TIMEOUT)
    summary = result.inner_text()
    # The good page is stored; the missing one gets one line naming the URL and the reason; the run went on.
    assert "1 added" in summary and "1 failed" in summary, summary
    assert "with errors" in summary
    assert f"error: {missing}" in summary and "404" in summary, summary
    page.locator("#aqa-table").get_by_text("Porto opens a tidal museum").wait_for()
    expect(page.locator("#aqa-table")).to_contain_text("Harbour Post")
    page.screenshot(path=str(artifacts / "articles-url-ingest.png"), full_page=True)

    page.get_by_role("tab", name="Chat").click()
    ask(page, "What did Porto open on Wednesday?")  # the new article answers at once
    assert "tides of the Douro estuary" in last_answer(page)
    assert "Douro estuary" in page.locator("#src-1 mark").inner_text()
    assert page.locator("#src-1 .aqa-title a").get_attribute("href") == good  # the card links to the page
    page.screenshot(path=str(artifacts / "chat-url-article.png"), full_page=True)

    page.get_by_role("tab", name="Articles").click()
    page.locator("#aqa-table").get_by_text("Porto opens a tidal museum").click()
    page.locator("#aqa-delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("#aqa-delete-result")).to_contain_text("Deleted 1 article(s).")


def test_byline_answer_cites_the_article_record(page):
    ask(page, "Who wrote the article about Xi's meeting with Kim?")
    assert "written by Liz Lee" in last_answer(page)
    expect(page.locator("#src-1 .aqa-record")).to_contain_text("Byline")
    assert page.locator("#src-1 mark").inner_text() == "Liz Lee"


TWO_REPORTS = [
    {"id": "cards-gazette", "source": "Harbour Gazette", "publish_date": "2023-10-03",
     "title": "Ferry fares rise again",
     "text": "Ferry fares in Portwick rose by 12 percent on Monday, the operator Bluewave Ferries said.\n"
             "Commuters complained that Bluewave Ferries had raised prices twice this year."},
    {"id": "cards-valley", "source": "Valley Times", "publish_date": "2023-11-20",
     "title": "Bus fares climb in the valley",
     "text": "Bus fares in the valley rose by 8 percent this week after fuel costs climbed, the transit authority "
             "said.\nPassenger groups asked for a freeze on fares next year."},
]


def test_two_reports_show_side_by_side_grouped_by_article(page, app_server, artifacts, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "two-reports.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in TWO_REPORTS) + "\n")
    client = app_server.client()
    client.predict(files=[handle_file(str(path))], urls="", api_name="/ingest")
    try:
        ask(page, "Do the Harbour Gazette article on ferry fares and the Valley Times report on bus fares both say "
                  "that fares rose?")
        assert last_answer(page).lstrip().startswith("Yes")
        groups = page.locator("#aqa-sources .aqa-groups.aqa-side .aqa-article")
        expect(groups).to_have_count(2)
        heads = [groups.nth(i).locator(".aqa-article-head").inner_text() for i in range(2)]
        assert "Harbour Gazette" in heads[0] and "3 October 2023" in heads[0], heads
        assert "Valley Times" in heads[1] and "20 November 2023" in heads[1], heads
        # each group holds only its own article's cards, and the two columns sit next to each other
        for i, title in enumerate(("Ferry fares rise again", "Bus fares climb in the valley")):
            cards = groups.nth(i).locator(".aqa-card")
            assert cards.count() >= 1
            assert all(title in cards.nth(j).locator(".aqa-title").inner_text() for j in range(cards.count()))
        left, right = groups.nth(0).bounding_box(), groups.nth(1).bounding_box()
        assert right["x"] >= left["x"] + left["width"] - 1 and abs(right["y"] - left["y"]) < 2, (left, right)
        page.screenshot(path=str(artifacts / "chat-two-reports-side-by-side.png"), full_page=True)
    finally:
        titles = {r["title"] for r in TWO_REPORTS}
        ids = [a["id"] for a in client.predict(api_name="/list_articles") if a["title"] in titles]
        client.predict(ids=ids, api_name="/delete_articles")
