"""Removed pre-v0.26 paths that real clients still probe, and what their fallback chains need.

Several clients try an older path first or fall back to one: memos-bber walks
``GET auth/me`` → ``GET auth/sessions/current`` (v0.25) → ``GET user/me`` (v0.20) →
``POST``/``GET auth/status`` (≤ v0.24) and moves on after any failure, and re-tries an upload on
``api/v1/resources`` only after a 404/405 from ``api/v1/attachments``; the Memories desktop client
calls ``GET user/me``; MoeMemos for Android's v1 adapter (written for v0.22) uses ``auth/status``,
``users/{id}/setting``, ``resources`` and ``workspace/profile``. Memos v0.28 serves none of these
(the OpenAPI paths), so memos-py must answer them like upstream's gateway does: a JSON
``404 {"code": 5, "message": "Not Found"}``, never the web app's HTML, so those chains stop or fall
through exactly as they do against a real v0.28 server.
"""

from __future__ import annotations

import pytest

REMOVED = [
    ("GET", "/api/v1/auth/sessions/current"),
    ("GET", "/api/v1/user/me"),
    ("POST", "/api/v1/auth/status"),
    ("GET", "/api/v1/auth/status"),
    ("GET", "/api/v1/users/alice/setting"),
    ("GET", "/api/v1/resources"),
    ("POST", "/api/v1/resources"),
    ("GET", "/api/v1/workspace/profile"),
    ("GET", "/api/v1/memos/-/tags"),
    ("GET", "/api/v1/memo?limit=1&rowStatus=NORMAL"),
]


@pytest.mark.parametrize(("method", "path"), REMOVED)
async def test_removed_paths_answer_json_not_found(memos_client, client_account, method, path):
    alice = await client_account("alice")
    r = await memos_client.request(method, path, headers=alice.bearer(**{"Content-Type": "application/json"}))
    assert r.status == 404
    assert r.headers["Content-Type"].startswith("application/json")
    body = await r.json()
    assert body["code"] == 5


async def test_the_first_step_of_the_auth_chain_succeeds(memos_client, client_account):
    """memos-bber and similar tools stop at the first answer carrying a user."""
    alice = await client_account("alice")
    r = await memos_client.get("/api/v1/auth/me", headers=alice.bearer())
    assert r.status == 200
    assert (await r.json())["user"]["username"] == "alice"


async def test_instance_profile_replaces_workspace_profile(memos_client):
    """Version probes that moved to ``instance/profile`` read ``version`` anonymously."""
    r = await memos_client.get("/api/v1/instance/profile")
    assert r.status == 200
    body = await r.json()
    assert body["version"].startswith("0.28")
