"""An OpenAI-compatible /v1/embeddings server for the in-process model (FastAPI + uvicorn), for workers to share."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from articleqa.settings import EmbeddingSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
QUERY_TEXTS = 4  # requests this small are questions: served by the query instances, never behind an ingest batch


def bind_problem(host: str, api_key: str | None) -> str:
    """Why the server may not bind `host` ("" when it may): a non-local address needs an API key."""
    if host in LOCAL_HOSTS or api_key:
        return ""
    return f"refusing to serve embeddings on {host} to anyone who can reach it: pass --api-key (clients send it)"


def build_app(settings: EmbeddingSettings, api_key: str | None = None) -> FastAPI:
    """The app: POST /v1/embeddings, GET /v1/models and GET /health, serving `settings.model` under its name.

    Args:
        settings: which in-process model (its `url` is ignored: this server is the one clients point at).
        api_key: when set, requests must send `Authorization: Bearer <api_key>`.
    """
    from fastapi import Body, FastAPI, Header
    from fastapi.responses import JSONResponse

    from articleqa.embed import Embedder

    embedder = Embedder(settings.model_copy(update={"url": None}))
    name = settings.model
    app = FastAPI(title="articleqa embeddings", docs_url=None, redoc_url=None)

    def refuse(status: int, message: str, code: str | None = None) -> JSONResponse:
        # OpenAI's error shape, so clients (openai, langchain) show the message rather than just the status
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "code": code}}, status)

    def key_ok(authorization: str | None) -> bool:
        return not api_key or authorization == f"Bearer {api_key}"

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": name}

    @app.get("/v1/models")
    def models(authorization: str | None = Header(None)) -> Any:
        if not key_ok(authorization):
            return refuse(401, "missing or wrong API key")
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "articleqa"}]}

    # A plain (sync) handler: FastAPI runs it on its thread pool, so questions are not queued behind a long batch.
    @app.post("/v1/embeddings")
    def embeddings(body: dict[str, Any] = Body(...), authorization: str | None = Header(None)) -> Any:
        if not key_ok(authorization):
            return refuse(401, "missing or wrong API key")
        texts = _texts(body.get("input"))
        if texts is None:
            return refuse(400, "input must be a string or a non-empty list of strings (token ids are not supported)")
        model = body.get("model") or name
        if model != name:
            return refuse(404, f"model {model!r} not found; this server serves {name!r}", "model_not_found")
        if len(texts) <= QUERY_TEXTS:
            vecs = embedder.encode_sentences(texts)
        else:
            vecs = embedder.encode_passages(texts)
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode() if as_base64 else v.tolist()}
                for i, v in enumerate(np.asarray(vecs, dtype=np.float32))]
        tokens = sum(len(t.split()) for t in texts)  # a word count: clients only log it
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": data, "model": name, "usage": usage}

    app.state.embedder = embedder
    app.state.started = time.time()
    return app


def _texts(raw: object) -> list[str] | None:
    """The request's input as a list of strings, or None when it is not text."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        return None
    return raw


def serve(settings: EmbeddingSettings, host: str = "127.0.0.1", port: int = 8081, api_key: str | None = None) -> None:
    """Load the model, then serve until interrupted (SIGINT/SIGTERM stop it cleanly)."""
    import uvicorn

    app = build_app(settings, api_key)
    app.state.embedder.encode_passages(["warm up"])  # load before the first client, not during its request
    app.state.embedder.encode_query("warm up")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
