"""Fixtures for memos-email: a real SMTP server process per test, an instance URL, fast timings."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from fixtures import smtp_server
from fixtures.mail import INSTANCE_URL


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return smtp_server.make_certificate(tmp_path_factory.mktemp("smtp-cert"))


@pytest.fixture(autouse=True)
def fast_timings(monkeypatch, certificate) -> None:
    """Seconds instead of minutes; the test certificate's CA trusted (MEMOS_EMAIL_CA_FILE)."""
    monkeypatch.setenv("MEMOS_EMAIL_POLL_INTERVAL", "0.2")
    monkeypatch.setenv("MEMOS_EMAIL_RETRY_BASE", "0.3")
    # Generous: a loaded CI machine must not expire a conversation with a live server (an
    # extra attempt). Tests of a server that never answers shorten it with ``retune``.
    monkeypatch.setenv("MEMOS_EMAIL_TIMEOUT", "10")
    monkeypatch.setenv("MEMOS_EMAIL_CA_FILE", str(certificate[0]))


@pytest.fixture
def memos_config(memos_config):
    return dataclasses.replace(memos_config, instance_url=INSTANCE_URL)


@pytest.fixture
def smtp(tmp_path, certificate) -> Any:
    """``smtp(mode="plain", **options)`` starts a server process for the test (stopped after it)."""
    with contextlib.ExitStack() as stack:

        def start(mode: str = "plain", **options: Any) -> smtp_server.SmtpServer:
            if mode in ("starttls", "tls"):
                options.setdefault("cert", certificate[0])
                options.setdefault("key", certificate[1])
            return stack.enter_context(smtp_server.smtp_server(tmp_path, mode, **options))

        yield start
