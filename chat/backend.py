"""What the chat and its API call: validated requests, ingest of uploads and URLs, listing and deleting articles."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from articleqa.settings import ANSWER_MODES
from chat.render import safe_url

if TYPE_CHECKING:
    from articleqa.settings import Settings
    from qa.ask import Asker

ALL_SOURCES = "All sources"


def parse_date(value: str | None, label: str) -> dt.date | None:
    """A YYYY-MM-DD date from a text box; blank is None.

    Raises:
        ValueError: with a message naming the field, when the text is not such a date.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{label}: '{value}' is not a date like 2025-09-04 (YYYY-MM-DD).") from None


def flatten_content(content: Any) -> str:
    """Plain text of a chat message's content: a string, or Gradio 6's list of parts ({"type": "text", ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "") if content.get("type", "text") == "text" else ""
    if isinstance(content, list):
        return " ".join(t for t in (flatten_content(p) for p in content) if t)
    return ""


def history_pairs(history: Any) -> list[tuple[str, str]]:
    """Earlier (question, answer) turns from what an API caller sends.

    Args:
        history: JSON text or a list, either of [question, answer] pairs or of chat messages
            ({"role": "user"|"assistant", "content": str | parts}); titled metadata messages are skipped.
    Returns:
        (question, answer) pairs, oldest first.
    Raises:
        ValueError: when the history cannot be read.
    """
    if isinstance(history, str):
        if not history.strip():
            return []
        try:
            history = json.loads(history)
        except json.JSONDecodeError as exc:
            raise ValueError(f"history: not valid JSON ({exc.msg})") from None
    if not history:
        return []
    if not isinstance(history, list):
        raise ValueError("history: expected a list of [question, answer] pairs or chat messages")
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for item in history:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            pairs.append((str(item[0] or ""), str(item[1] or "")))
        elif isinstance(item, dict) and "role" in item:
            if (item.get("metadata") or {}).get("title"):
                continue
            text = flatten_content(item.get("content"))
            if item["role"] == "user":
                question = text
            elif item["role"] == "assistant" and question is not None:
                pairs.append((question, text))
                question = None
        else:
            raise ValueError("history: expected a list of [question, answer] pairs or chat messages")
    return pairs


def llm_available(settings: Settings) -> bool:
    """Whether an LLM is configured (endpoint or local GGUF), so the llm answer mode may be offered."""
    return bool(settings.llm.base_url or settings.llm.gguf)


class Backend:
    """What the UI and the API call: one Asker (and its store) shared by every request of the process."""

    def __init__(self, settings: Settings, asker: Asker):
        self.settings = settings
        self.asker = asker
        self.store = asker.store
        self._ingest_lock = threading.Lock()  # one ingest at a time: runs write the same records

    # -- asking --
    def request(self, question: str, history: list[tuple[str, str]], source: str | None, since: str | None,
                until: str | None, mode: str | None):
        """A validated `qa.ask.Request`; raises ValueError with a user-facing message."""
        from qa.ask import Request

        question = (question or "").strip()
        if not question:
            raise ValueError("Please type a question.")
        mode = (mode or "").strip() or None
        if mode not in (None, *ANSWER_MODES):
            raise ValueError(f"mode: '{mode}' is not extractive or llm.")
        if mode == "llm" and not llm_available(self.settings):
            raise ValueError("mode llm: no LLM is configured (set ARTICLEQA_LLM_BASE_URL or ARTICLEQA_LLM_GGUF).")
        start, end = parse_date(since, "Since"), parse_date(until, "Until")
        if start and end and start > end:
            raise ValueError(f"Since ({start}) is after Until ({end}).")
        source = (source or "").strip()
        return Request(question, history=history, source=None if source in ("", ALL_SOURCES) else source,
                       since=start, until=end, mode=mode)

    # -- articles --
    def articles(self, title_contains: str = "") -> list[dict[str, Any]]:
        """Stored articles, newest first."""
        from articleqa.catalog import list_articles

        return list_articles(self.settings, self.store, title_contains or "")

    def sources(self) -> list[str]:
        """Distinct sources of stored articles, for the source filter."""
        return sorted({a["source"] for a in self.articles() if a["source"]})

    def delete(self, ids: list[str]) -> dict[str, bool]:
        """Delete articles by id; returns which existed."""
        from articleqa.catalog import delete

        ids = [i.strip() for i in ids if i and i.strip()]
        if not ids:
            return {}
        with self.writing():
            return delete(self.settings, ids, self.store)

    def writing(self):
        """Context for a write: questions meanwhile search the keyword index as it was, never waiting for its
        rebuilds; it is brought up to date once, before the write returns."""
        return self.asker.retriever.keywords.deferred()

    def check_uploads(self, paths: list[str]) -> str:
        """Why this batch of uploads is refused ("" when it is fine): wrong type or too large, naming the file."""
        from ingest.load import SUPPORTED_EXTENSIONS

        limit = self.settings.chat.max_upload_mb * 1024 * 1024
        for p in paths:
            path = Path(p)
            if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                return (f"{path.name}: unsupported file type (supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))}). "
                        "Nothing was ingested.")
            if path.stat().st_size > limit:
                return (f"{path.name}: larger than the {self.settings.chat.max_upload_mb:g} MB upload limit. "
                        "Nothing was ingested.")
        return ""

    def ingest(self, paths: list[str], urls: str, on_item=None):
        """Ingest uploaded files (copied to a stable folder, so re-uploading a file updates its article) and URLs.

        Args:
            paths: local paths of uploaded files.
            urls: text with one URL per line (blank lines and # comments ignored).
            on_item: progress callback, as for `Ingestor.run`.
        Returns:
            (IngestReport, {stored path: uploaded name}); raises ValueError for a refused batch.
        """
        problem = self.check_uploads(paths)
        if problem:
            raise ValueError(problem)
        url_list = [u.strip() for u in (urls or "").splitlines() if u.strip() and not u.strip().startswith("#")]
        bad = [u for u in url_list if not safe_url(u)]
        if bad:
            raise ValueError(f"{bad[0]}: not an http(s) URL. Nothing was ingested.")
        inputs, names = self._stage_uploads(paths)
        inputs += url_list
        if not inputs:
            raise ValueError("Choose files to upload or paste URLs first.")
        return self.run_ingest(inputs, on_item), names

    def run_ingest(self, inputs: list[str], on_item=None):
        """Ingest `inputs` (paths and URLs) and return the IngestReport: one ingest at a time, questions meanwhile
        searching the keyword index as it was, in a thread of lower CPU priority so that answers keep the cores."""
        from articleqa.priority import run_low_priority
        from ingest.pipeline import Ingestor

        ingestor = Ingestor(self.settings, store=self.store, embedder=self.asker.embedder)
        with self._ingest_lock, self.writing():
            return run_low_priority(
                lambda: ingestor.run(inputs, on_item=on_item), self.settings.chat.ingest_nice, name="articleqa-ingest"
            )

    def _stage_uploads(self, paths: list[str]) -> tuple[list[str], dict[str, str]]:
        # Gradio's temp path changes with the content; a stable path keeps the article id (a hash of the path),
        # so an edited re-upload replaces its article instead of becoming a near-duplicate.
        folder = self.settings.resolved_cache_dir() / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        inputs, names = [], {}
        for p in paths:
            name = re.sub(r"[^\w.\- ]+", "_", Path(p).name).strip() or "upload.txt"
            target = folder / name
            shutil.copyfile(p, target)
            inputs.append(str(target))
            names[str(target)] = name
        return inputs, names


def report_text(report, names: dict[str, str]) -> str:
    """The ingest summary with one line per input, uploaded files named as the user named them."""
    lines = [report.summary()]
    for item in report.items:
        line = item.line()
        for stored, name in names.items():
            line = line.replace(stored, name)
        lines.append(line)
    return "\n".join(lines)

