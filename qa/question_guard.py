"""Questions made safe before they reach retrieval: encodable text, markup removed, bounded length."""

from __future__ import annotations

import html
import re

from articleqa.safe_text import clean_field

# Script/style blocks lose their content; other tags just their brackets (a question is plain text, never markup).
_BLOCK = re.compile(r"<(script|style)\b[^>]{0,1000}>.{0,100000}?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z!?/][^<>]{0,1000}>")
_WORD = re.compile(r"[^\W_]")


def prepare_question(question: str, max_chars: int) -> tuple[str, str]:
    """The question as plain text, and why it cannot be answered ("" when it can).

    Args:
        question: what the user typed; may hold undecodable bytes (lone surrogates), control characters or markup.
        max_chars: longest question accepted.
    Returns:
        (clean question, refusal reason): the reason is set for an empty, markup-only or over-long question.
    """
    text = clean_field(question)
    if len(text) > max_chars:
        why = f"The question is too long ({len(text):,} characters > max_question_chars {max_chars:,})."
        return text[:max_chars], why
    stripped = " ".join(_TAG.sub(" ", _BLOCK.sub(" ", html.unescape(text) if "&" in text else text)).split())
    if not _WORD.search(stripped):
        why = "only markup" if _WORD.search(text) else "no words"
        return stripped, f"The question has {why}; ask it in words."
    return stripped, ""
