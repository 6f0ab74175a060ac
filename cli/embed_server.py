"""`articleqa embed-server`: serve the embedding model over an OpenAI-compatible /v1/embeddings endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import fail, make_settings


def embed_server_command(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8081,
    host: Annotated[str, typer.Option("--host", help="Address to bind (non-local needs --api-key).")] = "127.0.0.1",
    model: Annotated[str | None, typer.Option(
        "--model", help="Sentence-transformers model to serve (default: the packaged MiniLM) "
        "[env ARTICLEQA_EMBEDDING_MODEL].",
    )] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", help="Require this bearer key (clients set ARTICLEQA_EMBEDDING_API_KEY).",
    )] = None,
) -> None:
    """Serve the embedding model to ingest workers and chats: POST /v1/embeddings, as OpenAI, TEI or vLLM do.

    Point articleqa at it with ARTICLEQA_EMBEDDING_URL=http://127.0.0.1:8081/v1 (docs/scaling.md). Runs until
    Ctrl-C.

    Examples:

      articleqa embed-server --port 8081

      export ARTICLEQA_EMBEDDING_URL=http://127.0.0.1:8081/v1

      articleqa ingest news/ --chroma-url http://127.0.0.1:8000 --workers 2
    """
    from articleqa.embed_server import bind_problem, serve

    settings = make_settings(embedding_model=model)
    problem = bind_problem(host, api_key)
    if problem:
        fail(problem)
    typer.echo(f"serving {settings.embedding.model} on http://{host}:{port}/v1 (Ctrl-C stops)", err=True)
    serve(settings.embedding, host=host, port=port, api_key=api_key)
