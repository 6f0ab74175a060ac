"""The one error type for a backing service that cannot be used (the store, the embedding server)."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store (or the embedding server it is written with) cannot be reached or written; the message says what
    to do.

    `fatal` is True when every further write would fail the same way (server unreachable, disk full, read-only),
    so a run can stop trying instead of failing slowly article by article.
    """

    def __init__(self, message: str, fatal: bool = False):
        super().__init__(message)
        self.fatal = fatal


class EmbeddingError(StoreError):
    """The embedding server is down, refused the request, or sent vectors that do not fit; always fatal to a run."""

    def __init__(self, message: str):
        super().__init__(message, fatal=True)
