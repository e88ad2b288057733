"""Shared set-up for the third-party client replays in this folder.

Every client studied here is configured the same way by its user: an instance URL plus a token
copied from "Settings → Access Tokens", which in Memos v0.28 is a personal access token
(``memos_pat_…``) sent as ``Authorization: Bearer <token>``. The ``client_token`` fixture makes one
through the public API, exactly as the web UI would, so the replays authenticate like the real
clients do rather than with the fixture's short-lived access JWT.
"""

from __future__ import annotations

import dataclasses
import io

import pytest


@dataclasses.dataclass
class ClientAccount:
    username: str
    token: str

    @property
    def name(self) -> str:
        return f"users/{self.username}"

    def bearer(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


@pytest.fixture
def client_account(memos_client, memos_users):
    """Factory: a user plus a PAT created over REST, as a user would before configuring a client."""

    async def make(username: str = "alice", **kwargs) -> ClientAccount:
        user = await memos_users(username, **kwargs)
        r = await memos_client.post(
            f"/api/v1/users/{username}/personalAccessTokens",
            json={"parent": f"users/{username}", "description": "third-party client", "expiresInDays": 0},
            headers=user.headers,
        )
        body = await r.json()
        assert r.status == 200, body
        assert body["token"].startswith("memos_pat_")
        return ClientAccount(username=username, token=body["token"])

    return make


@pytest.fixture
def png_image() -> bytes:
    """A small real PNG (32x24), what a browser extension or mobile app would upload from the clipboard."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()
