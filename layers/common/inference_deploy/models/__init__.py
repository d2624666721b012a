"""Typed shapes at every boundary: API requests and responses, task items, workflow payloads, settings."""
