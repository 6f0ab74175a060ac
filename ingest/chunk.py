"""Sentence-aware chunking: passages never cut a sentence and keep offsets into the cleaned article."""

from __future__ import annotations

import hashlib

from articleqa.models import Article, Passage
from articleqa.text import Span, split_sentences


def content_hash(article: Article) -> str:
    """Hash of everything that, when changed, must re-create the article's passages."""
    key = "\x1f".join([article.text, article.title, article.date, article.source, article.url, article.author])
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def chunk(article: Article, size: int = 700, overlap: int = 1) -> list[Passage]:
    """Group consecutive sentences into passages of about `size` characters.

    Args:
        article: the cleaned article; offsets refer to `article.text`.
        size: target passage length in characters; a single longer sentence becomes its own passage.
        overlap: how many sentences of a passage are repeated at the start of the next one.
    Returns:
        Passages in article order, with ids derived from the article id and content hash (stable across runs).
    """
    sentences = split_sentences(article.text)
    digest = content_hash(article)[:12]
    groups = _group(sentences, size, overlap)
    passages = []
    for i, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        passages.append(
            Passage(
                id=f"{article.id}::{digest}::{i:04d}",
                article_id=article.id,
                text=article.text[start:end],
                position=i,
                start=start,
                end=end,
                **article.meta_fields(),
            )
        )
    return passages


def _group(sentences: list[Span], size: int, overlap: int) -> list[list[Span]]:
    groups: list[list[Span]] = []
    i = 0
    while i < len(sentences):
        group = [sentences[i]]
        j = i + 1
        while j < len(sentences) and sentences[j].end - group[0].start <= size:
            group.append(sentences[j])
            j += 1
        groups.append(group)
        if j >= len(sentences):
            break
        # Step back `overlap` sentences, but always advance so a run of long sentences terminates.
        i = max(i + 1, j - overlap)
    return groups


def embedding_text(passage: Passage) -> str:
    """What gets embedded: the passage with its title and date as context (the stored text stays plain)."""
    head = passage.title
    if passage.date:
        head = f"{head} ({passage.date})" if head else passage.date
    return f"{head}\n{passage.text}" if head else passage.text
