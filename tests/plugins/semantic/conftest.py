"""Fixtures of the semantic search tests: a worker that also polls often (a row written behind the
app's back is found within a fraction of a second)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def quick_worker(monkeypatch) -> None:
    """Read when the app is built, so before ``memos_app`` (autouse fixtures come first)."""
    monkeypatch.setenv("MEMOS_SEMANTIC_POLL_INTERVAL", "0.2")
