"""The articleqa web chat and its HTTP API (Gradio): ask with cited sources, manage and ingest articles."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from articleqa.settings import ANSWER_MODES
from chat.backend import ALL_SOURCES, Backend, history_pairs, llm_available, report_text
from chat.render import answer_markdown, details_markdown, escape_text, passage_cards_html, safe_url, source_cards_html

__all__ = ["answer_markdown", "bind_error", "build_app", "escape_text", "history_pairs", "launch", "safe_url"]

if TYPE_CHECKING:
    import gradio as gr

    from articleqa.models import Answer
    from articleqa.settings import Settings
    from qa.ask import Asker

REPO = Path(__file__).resolve().parent
SAMPLES = REPO / "samples" / "articles"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
ANSWER_GROUP = "answer"  # chat and /ask share one concurrency budget
INGEST_GROUP = "ingest"  # ingest runs on its own, so answers never queue behind it

CSS = """
#aqa-header h1 {margin: 0; font-size: 1.5rem;}
#aqa-header p {margin: 0.15rem 0 0; color: var(--body-text-color-subdued);}
#aqa-sources {max-height: 640px; overflow-y: auto; padding-right: 4px;}
.aqa-empty {color: var(--body-text-color-subdued); padding: 1rem; border: 1px dashed var(--border-color-primary);
  border-radius: 8px; font-size: 0.95rem;}
.aqa-card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 0.7rem 0.85rem;
  margin-bottom: 0.7rem; background: var(--background-fill-primary); scroll-margin: 12px;
  transition: box-shadow 0.3s, border-color 0.3s;}
.aqa-card.aqa-flash {border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft);}
.aqa-card-head {display: flex; gap: 0.55rem; align-items: baseline;}
.aqa-num {flex: none; min-width: 1.6rem; height: 1.6rem; line-height: 1.6rem; text-align: center; border-radius: 999px;
  background: var(--color-accent); color: white; font-weight: 600; font-size: 0.85rem;}
.aqa-title {font-weight: 600; line-height: 1.3;}
.aqa-meta {color: var(--body-text-color-subdued); font-size: 0.85rem; margin: 0.2rem 0 0.45rem 2.15rem;}
.aqa-passage {font-size: 0.92rem; line-height: 1.5; margin: 0 0 0 2.15rem; white-space: pre-wrap;}
.aqa-passage mark {background: #fde68a; color: inherit; padding: 0 2px; border-radius: 3px;}
.aqa-passage.aqa-near {max-height: 9.5em; overflow: hidden;}
.aqa-groups.aqa-side {display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 0.7rem;
  align-items: start;}
.aqa-side .aqa-passage {margin-left: 0;}
.aqa-side .aqa-meta {display: none;}  /* the column head shows publisher and date */
.aqa-article-head {font-size: 0.85rem; font-weight: 600; margin: 0 0 0.35rem; color: var(--body-text-color-subdued);}
a.aqa-cite {text-decoration: none; font-weight: 600; font-size: 0.85em; padding: 0 1px; cursor: pointer;}
#aqa-welcome {border: 1px solid var(--color-accent-soft); background: var(--background-fill-secondary);
  border-radius: 12px; padding: 0.4rem 1rem 1rem;}
.aqa-notice {color: var(--body-text-color-subdued);}
#aqa-since textarea, #aqa-until textarea {white-space: nowrap; overflow: hidden;}
"""

# Clicking a marker [n] brings source card n into view. Capture phase, so the chat's own link handling
# (which opens links in a new tab) never sees the click.
HEAD = """
<script>
document.addEventListener("click", function (e) {
  var a = e.target && e.target.closest ? e.target.closest('a[href^="#src-"]') : null;
  if (!a) return;
  var card = document.getElementById(a.getAttribute("href").slice(1));
  e.preventDefault();
  e.stopPropagation();
  if (!card) return;
  card.scrollIntoView({behavior: "smooth", block: "nearest"});
  card.classList.add("aqa-flash");
  setTimeout(function () { card.classList.remove("aqa-flash"); }, 1600);
}, true);
</script>
"""

WELCOME = """
### Welcome: no articles are stored yet
articleqa answers questions **only from the news articles you add**, and every sentence of an answer is cited to
the passage it comes from.

- **Add your own:** open the **Articles** tab, upload `.txt`, `.md`, `.html`, `.pdf`, `.json` or `.jsonl` files,
  or paste article URLs (one per line).
- **Or try it now:** load the bundled sample (a Japan Today report on Kim Jong Un's September 2025 visit to
  Beijing) and ask *"Who accompanied Kim?"*.
- From a terminal: `articleqa ingest path/to/articles/`.
"""


# ---- pure helpers (no gradio) --------------------------------------------------------------------------------
def bind_error(host: str, username: str | None, password: str | None, allow_no_auth: bool) -> str:
    """Why the chat may not bind `host` ("" when it may): a non-local address needs a login or an explicit opt-out."""
    if host in LOCAL_HOSTS or allow_no_auth:
        return ""
    if username and password:
        return ""
    return (
        f"refusing to bind {host} without a login: pass --username and --password "
        "(or ARTICLEQA_USERNAME/ARTICLEQA_PASSWORD), or --allow-no-auth to expose it to anyone who can reach it"
    )


def build_app(settings: Settings, asker: Asker | None = None) -> gr.Blocks:
    """Build the chat UI and its API without loading any model.

    Args:
        settings: the settings of this process (store, answer mode, upload limit, concurrency).
        asker: a shared Asker; one is created (cheaply: models load on first use) when None.
    Returns:
        The Gradio Blocks app, queued with `settings.chat.concurrency` answers in parallel.
    """
    import gradio as gr

    from articleqa.store import StoreError
    from ingest.load import SUPPORTED_EXTENSIONS
    from qa.ask import Asker

    backend = Backend(settings, asker or Asker(settings))
    modes = list(ANSWER_MODES) if llm_available(settings) else ["extractive"]

    # ---- handlers ------------------------------------------------------------------------------------------
    def source_choices() -> list[str]:
        return [ALL_SOURCES, *backend.sources()]

    def table_rows(title: str = "") -> list[list[Any]]:
        return [[a["title"], a["source"], a["date"], a["passages"], a["id"]] for a in backend.articles(title)]

    def id_choices() -> list[tuple[str, str]]:
        return [(f"{a['title'][:70] or '(untitled)'} — {a['id']}", a["id"]) for a in backend.articles()]

    def refresh(title: str = ""):
        rows = table_rows(title)
        return (
            gr.update(value=rows),
            gr.update(choices=id_choices()),
            gr.update(choices=source_choices()),
            gr.update(visible=not backend.articles()),
        )

    def on_load():
        return refresh("")

    def respond(message: str, chat: list, turns: list, source: str, since: str, until: str, mode: str):
        try:
            req = backend.request(message, list(turns or []), source, since, until, mode)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        chat = list(chat or []) + [
            {"role": "user", "content": escape_text(req.question)},
            {"role": "assistant", "content": "_Searching the articles…_"},
        ]
        yield chat, turns, '<div class="aqa-empty">Searching…</div>', "", ""
        try:
            yield from stream_answer(req, chat, turns)
        except StoreError as exc:  # the store went away (server down): say so in the chat; the next question retries
            chat[-1] = {"role": "assistant", "content": f"**Error:** {escape_text(str(exc))}"}
            yield chat, turns, '<div class="aqa-empty">No sources: the store could not be read.</div>', "", ""

    def stream_answer(req, chat: list, turns: list):
        raw = ""
        for event in backend.asker.stream(req):
            if event.kind == "query":
                continue
            if event.kind == "sources":
                yield chat, turns, passage_cards_html(event.passages), "", ""
            elif event.kind == "delta":
                raw += event.text
                chat[-1] = {"role": "assistant", "content": answer_markdown(raw)}
                yield chat, turns, gr.skip(), "", ""
            elif event.kind == "done" and event.answer is not None:
                ans = event.answer
                chat[-1] = {"role": "assistant", "content": final_message(ans)}
                turns = list(turns or []) + [(req.question, ans.answer)]
                yield chat, turns, source_cards_html(ans), details_markdown(ans), ""

    def final_message(ans: Answer) -> str:
        text = answer_markdown(ans.answer, ans.short_answer)
        if ans.refused and ans.passages:
            near = "\n".join(
                f"{i}. {escape_text(p.title or '(untitled)')}"
                + (f" ({escape_text(p.source)}, {escape_text(p.date)})" if p.source or p.date else "")
                for i, p in enumerate(ans.passages[:5], 1)
            )
            text += f"\n\nThe nearest passages (shown on the right) came from:\n{near}"
        for n in ans.notices:
            text += f'\n\n<span class="aqa-notice">Note: {escape_text(n)}</span>'
        return text

    def new_chat():
        return [], [], '<div class="aqa-empty">Sources of the latest answer appear here.</div>', ""

    def ui_ingest(files: list[str] | None, urls: str, title: str, progress=gr.Progress()):
        paths = [str(f) for f in (files or [])]
        total = max(1, len(paths) + len([u for u in (urls or "").splitlines() if u.strip()]))
        progress(0, desc="Starting ingest…")
        done = [0]

        def on_item(item, _embedded):
            done[0] += 1
            progress(min(done[0] / total, 1.0), desc=f"{item.status}: {item.title or Path(item.origin).name}")

        try:
            report, names = backend.ingest(paths, urls, on_item)
        except ValueError as exc:
            return (f"**Not ingested.** {escape_text(str(exc))}", gr.skip(), gr.skip(), *refresh(title))
        body = escape_text(report_text(report, names)).replace("\n", "  \n")
        head = "**Ingest finished.**" if report.ok else "**Ingest finished with errors.**"
        return f"{head}  \n{body}", None, "", *refresh(title)

    def load_sample(title: str, progress=gr.Progress()):
        progress(0, desc="Loading the sample article (first run loads the language models)…")
        report = backend.run_ingest([str(SAMPLES)])
        gr.Info(f"Sample loaded: {report.summary()}")
        return refresh(title)

    def ask_delete(ids: list[str] | None):
        ids = list(ids or [])
        if not ids:
            return gr.update(visible=False), "Select articles to delete first (click table rows or pick ids)."
        titles = {a["id"]: a["title"] for a in backend.articles()}
        listed = "  \n".join(f"- {escape_text(titles.get(i, '?'))} ({escape_text(i)})" for i in ids)
        return gr.update(visible=True), f"**Delete {len(ids)} article(s)? This cannot be undone.**  \n{listed}"

    def confirm_delete(ids: list[str] | None, title: str):
        result = backend.delete(list(ids or []))
        deleted = [i for i, ok in result.items() if ok]
        msg = f"Deleted {len(deleted)} article(s)." + (
            f" Not found: {', '.join(i for i, ok in result.items() if not ok)}" if len(deleted) < len(result) else ""
        )
        return gr.update(visible=False), escape_text(msg), gr.update(value=[]), *refresh(title)

    def select_row(ids: list[str] | None, evt: gr.SelectData):
        row = evt.row_value or []
        ids = list(ids or [])
        if row and row[-1] and row[-1] not in ids:
            ids.append(row[-1])
        return gr.update(value=ids)

    select_row.__annotations__["evt"] = gr.SelectData  # postponed annotations hide the type from gradio

    # ---- API functions (typed: gr.api derives the schema from the hints) --------------------------------------
    def api_ask(question: str, history: str = "", source: str = "", since: str = "", until: str = "",
                mode: str = "") -> dict:
        """Answer a question from the stored articles; returns the same JSON as `articleqa ask --json`.

        Args:
            question: the question.
            history: JSON list of earlier [question, answer] pairs (or chat messages); "" for none.
            source: only articles from this source ("" for all).
            since: only articles published on or after this date (YYYY-MM-DD, "" for none).
            until: only articles published on or before this date (YYYY-MM-DD, "" for none).
            mode: "extractive" or "llm" ("" for the server's default).
        """
        try:
            req = backend.request(question, history_pairs(history), source, since, until, mode)
            return backend.asker.ask(req).to_dict()
        except (ValueError, StoreError) as exc:
            raise gr.Error(str(exc)) from None

    def api_list_articles(title_contains: str = "") -> list:
        """Stored articles, newest first: id, title, date, source, url, author, passages, aliases.

        Args:
            title_contains: only articles whose title contains this text (case-insensitive).
        """
        return backend.articles(title_contains)

    def api_delete_articles(ids: list[str]) -> dict:
        """Delete articles and their passages by id; returns {id: whether it existed}.

        Args:
            ids: article ids (see /list_articles).
        """
        return backend.delete(ids)

    def api_ingest(files: list[str] | None, urls: str) -> dict:
        """Ingest uploaded files and/or URLs (one per line); returns the ingest report (counts, ok, items, ...)."""
        try:
            report, names = backend.ingest([str(f) for f in (files or [])], urls)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        data = report.to_dict()
        for item in data["items"]:
            item["origin"] = names.get(item["origin"], item["origin"])
        return data

    # ---- layout --------------------------------------------------------------------------------------------
    # Analytics off here, not only through the environment the entry points set: this app never phones home.
    with gr.Blocks(title="articleqa — cited answers from news articles", analytics_enabled=False) as demo:
        turns = gr.State([])
        gr.Markdown(
            "# articleqa\nAsk questions about your news articles. Every answer sentence is cited to its source.",
            elem_id="aqa-header",
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Column(visible=False, elem_id="aqa-welcome") as welcome:
                    gr.Markdown(WELCOME)
                    sample_btn = gr.Button("Load the bundled sample article", variant="primary", size="md")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=420):
                        chatbot = gr.Chatbot(
                            label="Chat", elem_id="aqa-chat", height=520, latex_delimiters=[],
                            buttons=["copy", "copy_all"], feedback_options=None, layout="bubble",
                            placeholder="Ask about the stored articles, e.g. **Who accompanied Kim?**",
                        )
                        with gr.Row():
                            box = gr.Textbox(
                                placeholder="Ask a question…", show_label=False, scale=5, elem_id="aqa-question",
                                autofocus=True, submit_btn=False, max_lines=4,
                            )
                            send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="aqa-send")
                            clear = gr.Button("New chat", scale=1, min_width=80)
                        with gr.Row():
                            mode = gr.Radio(
                                modes, value=settings.answer.mode if settings.answer.mode in modes else "extractive",
                                label="Answer mode",
                                info="extractive quotes the articles" + ("; llm writes with the configured model"
                                                                        if len(modes) > 1 else " (no LLM configured)"),
                                scale=3, min_width=200,
                            )
                            source = gr.Dropdown([ALL_SOURCES], value=ALL_SOURCES, label="Source", scale=3,
                                                 allow_custom_value=False, min_width=160, elem_id="aqa-source")
                            since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", scale=2, min_width=130,
                                               elem_id="aqa-since")
                            until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", scale=2, min_width=130,
                                               elem_id="aqa-until")
                        with gr.Accordion("Details", open=False):
                            details = gr.Markdown("Ask a question to see the search query and timings.",
                                                  elem_id="aqa-details")
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(
                            '<div class="aqa-empty">Sources of the latest answer appear here.</div>',
                            elem_id="aqa-sources", padding=False,
                        )
            with gr.Tab("Articles", id="articles"):
                with gr.Row():
                    search = gr.Textbox(label="Search titles", placeholder="e.g. Kim", scale=4)
                    refresh_btn = gr.Button("Refresh", scale=1, min_width=80)
                table = gr.Dataframe(
                    headers=["title", "source", "date", "passages", "id"],
                    datatype=["str", "str", "str", "number", "str"], interactive=False, wrap=True,
                    elem_id="aqa-table", label="Stored articles (click a row to select it)",
                )
                with gr.Row():
                    selected = gr.Dropdown([], multiselect=True, label="Selected for deletion", scale=4)
                    delete_btn = gr.Button("Delete selected…", variant="stop", scale=1, min_width=120,
                                           elem_id="aqa-delete")
                with gr.Group(visible=False) as confirm_box:
                    confirm_text = gr.Markdown(elem_id="aqa-confirm")
                    with gr.Row():
                        confirm_btn = gr.Button("Yes, delete", variant="stop")
                        cancel_btn = gr.Button("Cancel")
                delete_msg = gr.Markdown(elem_id="aqa-delete-result")
                gr.Markdown(f"### Add articles\nFiles: {', '.join(sorted(SUPPORTED_EXTENSIONS))}, "
                            f"up to {settings.chat.max_upload_mb:g} MB each. Or paste URLs, one per line.")
                with gr.Row():
                    files = gr.File(file_count="multiple", file_types=sorted(SUPPORTED_EXTENSIONS), type="filepath",
                                    label="Upload files", elem_id="aqa-upload", scale=1)
                    urls = gr.Textbox(
                        label="URLs (one per line)", lines=5, placeholder="https://…", scale=1, elem_id="aqa-urls"
                    )
                ingest_btn = gr.Button("Ingest", variant="primary", elem_id="aqa-ingest")
                ingest_msg = gr.Markdown(elem_id="aqa-ingest-result")

        # hidden inputs/outputs of the /ingest API (files need a File component to be uploaded by clients)
        api_files = gr.File(file_count="multiple", type="filepath", visible=False, label="files")
        api_urls = gr.Textbox("", visible=False, label="urls")
        api_report = gr.JSON(visible=False, label="report")
        api_ingest_btn = gr.Button(visible=False)

        # ---- events ------------------------------------------------------------------------------------------
        listing = [table, selected, source, welcome]
        private: dict[str, Any] = {"api_visibility": "private"}
        chat_io = dict(
            fn=respond, inputs=[box, chatbot, turns, source, since, until, mode],
            outputs=[chatbot, turns, sources, details, box], concurrency_id=ANSWER_GROUP,
            concurrency_limit=settings.chat.concurrency, **private,
        )
        box.submit(**chat_io)
        send.click(**chat_io)
        clear.click(new_chat, None, [chatbot, turns, sources, details], **private)
        chatbot.clear(new_chat, None, [chatbot, turns, sources, details], **private)
        demo.load(on_load, None, listing, **private)
        search.change(refresh, [search], listing, **private)
        refresh_btn.click(refresh, [search], listing, **private)
        table.select(select_row, [selected], [selected], **private)
        delete_btn.click(ask_delete, [selected], [confirm_box, confirm_text], **private)
        cancel_btn.click(lambda: (gr.update(visible=False), ""), None, [confirm_box, confirm_text], **private)
        confirm_btn.click(confirm_delete, [selected, search], [confirm_box, delete_msg, selected, *listing], **private)
        ingest_btn.click(ui_ingest, [files, urls, search], [ingest_msg, files, urls, *listing],
                         concurrency_id=INGEST_GROUP, concurrency_limit=1, **private)
        sample_btn.click(load_sample, [search], listing, concurrency_id=INGEST_GROUP, concurrency_limit=1, **private)

        gr.api(api_ask, api_name="ask", concurrency_id=ANSWER_GROUP, concurrency_limit=settings.chat.concurrency)
        gr.api(api_list_articles, api_name="list_articles")
        gr.api(api_delete_articles, api_name="delete_articles", concurrency_id=INGEST_GROUP, concurrency_limit=1)
        api_ingest_btn.click(api_ingest, [api_files, api_urls], api_report, api_name="ingest",
                             concurrency_id=INGEST_GROUP, concurrency_limit=1)

    # Queue positions go out once a second rather than to every waiting user each time an answer starts ("auto"):
    # with 16 users waiting that was ~12 messages per answer, a fifth of the event loop's CPU under load.
    demo.queue(default_concurrency_limit=settings.chat.concurrency, status_update_rate=1.0)
    demo.articleqa_backend = backend  # for tests and the warm-up thread
    return demo


def warm_up(asker: Asker) -> None:
    """Load the embedding model, spaCy and the keyword index before the first question (errors are ignored)."""
    try:
        asker.embedder.encode_query("warm up")
        asker.ask("warm up")
    except Exception as exc:  # a broken store shows up in the UI with a real message; never kill the server
        print(f"articleqa: warm-up skipped: {exc}")


def launch(settings: Settings, host: str | None = None, port: int | None = None, block: bool = True,
           asker: Asker | None = None) -> gr.Blocks:
    """Start the chat server (models warm up in the background; the page is usable at once).

    Args:
        settings: settings of this process; `host`/`port` override `settings.chat.host`/`settings.chat.port`.
        host: address to bind; a non-local one needs settings.chat.username+password or settings.chat.allow_no_auth.
        port: TCP port.
        block: wait until the server stops (False returns right after the server started).
        asker: a shared Asker (one is created when None).
    Returns:
        The running Blocks app.
    Raises:
        ValueError: when binding `host` is not allowed without a login.
    """
    host = host or settings.chat.host
    port = port or settings.chat.port
    problem = bind_error(host, settings.chat.username, settings.chat.password, settings.chat.allow_no_auth)
    if problem:
        raise ValueError(problem)
    from articleqa.lock import acquire

    # The chat owns an embedded store for its whole life (Chroma's embedded index lives in this process);
    # raises StoreBusy when an ingest is writing it. Nothing is locked against a Chroma server.
    acquire(settings, "chat", write=True, wait=0)
    demo = build_app(settings, asker)
    import gradio as gr

    chat = settings.chat
    auth = (chat.username, chat.password) if chat.username and chat.password else None
    demo.launch(
        server_name=host, server_port=port, share=False, auth=auth, prevent_thread_lock=True, show_error=True,
        max_file_size=f"{max(1, int(settings.chat.max_upload_mb))}mb", footer_links=["api"], run_history=False,
        enable_monitoring=False, mcp_server=False, ssr_mode=False, theme=gr.themes.Soft(), css=CSS, head=HEAD,
        quiet=False,
    )
    threading.Thread(target=warm_up, args=(demo.articleqa_backend.asker,), name="warm-up", daemon=True).start()
    endpoint = _answer_endpoint(settings, demo.articleqa_backend.asker)
    if block:
        if threading.current_thread() is threading.main_thread():
            import signal

            # `kill` stops the chat as Ctrl-C does, so the answer registry is withdrawn on the way out.
            signal.signal(signal.SIGTERM, _interrupt)
        try:
            demo.block_thread()
        except KeyboardInterrupt:
            pass
        finally:
            if endpoint is not None:
                from qa.service import stop_endpoint

                stop_endpoint(*endpoint)
    return demo


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _answer_endpoint(settings: Settings, asker: Asker):
    """`articleqa ask` from another shell is answered by this chat, which owns the embedded store (qa/service.py).

    Returns:
        (server, store folder) to stop it with, or None in server mode (every process reaches the Chroma server).
    """
    from articleqa.endpoint import store_folder
    from qa.service import AnswerService, start_endpoint

    folder = store_folder(settings)
    if folder is None:
        return None
    server, _ = start_endpoint(AnswerService(settings, asker, follow_writer=False), folder, "chat")
    return server, folder


if __name__ == "__main__":  # `python app.py [flags]` is `articleqa serve [flags]`
    import sys

    from cli.main import main

    main(["serve", *sys.argv[1:]])
