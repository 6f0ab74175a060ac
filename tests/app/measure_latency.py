"""Measure cold start to a usable page and time to the first answer text in Chromium (medians of N runs).

Usage: python tests/app/measure_latency.py --store /tmp/appdev [--runs 3]
(the store must hold the seed article: `articleqa ingest samples/articles --store /tmp/appdev`).
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import sync_playwright

from tests.app.conftest import free_port, start_server, stop_server, wait_until_up
from tests.app.test_browser import ARGS, CHROMIUM

QUESTION = "Who accompanied Kim?"
FIRST_TEXT = """() => {
  const rows = document.querySelectorAll('#aqa-chat .message-row');
  if (rows.length < 2) return false;
  const t = rows[rows.length - 1].innerText;
  return t.includes('Kim') && !t.includes('Searching the articles');
}"""


def first_answer_seconds(page) -> float:
    """Seconds from submitting the question until the first answer text is on screen."""
    box = page.locator("#aqa-question textarea")
    box.fill(QUESTION)
    t = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(FIRST_TEXT, polling="raf", timeout=120_000)
    return time.perf_counter() - t


def one_run(browser, store, warm_wait: float) -> tuple[float, float, float]:
    """(cold start to usable page, first answer right away, first answer after the warm-up) in seconds."""
    from pathlib import Path

    port = free_port()
    t0 = time.perf_counter()
    proc = start_server(Path(store), port)
    try:
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        # Poll over plain HTTP: Chromium backs off after refused connections, which would inflate the figure.
        wait_until_up(f"http://127.0.0.1:{port}/", proc)
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator("#aqa-question textarea").wait_for(state="visible", timeout=60_000)
        cold = time.perf_counter() - t0
        immediate = first_answer_seconds(page)
        time.sleep(warm_wait)
        page.reload()
        page.locator("#aqa-question textarea").wait_for(state="visible")
        warm = first_answer_seconds(page)
        page.close()
        return cold, immediate, warm
    finally:
        stop_server(proc)


def main() -> None:
    """Run the measurement and print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warm-wait", type=float, default=2.0)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        runs = [one_run(browser, args.store, args.warm_wait) for _ in range(args.runs)]
        browser.close()
    for i, (c, f, w) in enumerate(runs, 1):
        print(f"run {i}: cold start {c:.2f} s, first answer (cold models) {f:.2f} s, first answer (warm) {w:.2f} s")
    med = [statistics.median(x) for x in zip(*runs, strict=True)]
    print(f"median: cold start {med[0]:.2f} s, first answer (cold models) {med[1]:.2f} s, "
          f"first answer (warm) {med[2]:.3f} s")


if __name__ == "__main__":
    main()
