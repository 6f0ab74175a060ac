"""Ingest: load -> clean -> chunk -> embed -> store, idempotent and crash-safe."""
