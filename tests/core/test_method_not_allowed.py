"""A known path asked with a method it does not serve is 405 with ``Allow``, on every route.

The body keeps the Memos error shape and upstream's code 12 "Method Not Allowed" (upstream's REST
gateway answers these with HTTP 501). Unknown paths stay 404 with code 5.
"""

from __future__ import annotations

import pytest

ERROR = {"code": 12, "message": "Method Not Allowed", "details": []}

#: (method, path, the Allow header)
WRONG_METHODS = [
    ("TRACE", "/api/v1/memos", "GET, HEAD, POST"),
    ("DELETE", "/api/v1/memos", "GET, HEAD, POST"),
    ("PUT", "/api/v1/memos/m1", "DELETE, GET, HEAD, PATCH"),
    ("POST", "/api/v1/memos/m1", "DELETE, GET, HEAD, PATCH"),
    ("PUT", "/api/v1/users/alice", "DELETE, GET, HEAD, PATCH"),
    ("DELETE", "/api/v1/users/alice/shortcuts", "GET, HEAD, POST"),
    ("PUT", "/api/v1/users/alice/settings/GENERAL", "GET, HEAD, PATCH"),
    ("GET", "/api/v1/auth/signin", "POST"),
    ("POST", "/api/v1/instance/profile", "GET, HEAD"),
    ("DELETE", "/api/v1/instance/settings/GENERAL", "GET, HEAD, PATCH"),
    ("OPTIONS", "/api/v1/attachments", "GET, HEAD, POST"),  # not a CORS preflight
    ("POST", "/file/attachments/abc/x.png", "GET, HEAD"),
    ("DELETE", "/file/users/alice/avatar", "GET, HEAD"),
    ("PUT", "/explore/rss.xml", "GET, HEAD"),
    ("POST", "/u/alice/rss.xml", "GET, HEAD"),
    ("POST", "/robots.txt", "GET, HEAD"),
    ("POST", "/healthz", "GET, HEAD"),
    ("PUT", "/mcp", "DELETE, POST"),
    ("PATCH", "/mcp/readonly", "DELETE, POST"),
    ("TRACE", "/mcp/x/memo/readonly", "DELETE, POST"),
]


@pytest.mark.parametrize(("method", "path", "allow"), WRONG_METHODS)
async def test_a_wrong_method_is_405_with_allow(memos_client, memos_users, method, path, allow):
    alice = await memos_users("alice")
    r = await memos_client.request(method, path, headers=alice.headers)
    assert r.status == 405, await r.text()
    assert r.headers["Allow"] == allow
    assert r.headers["Content-Type"].startswith("application/json")
    assert await r.json() == ERROR


async def test_the_method_is_checked_before_credentials(memos_client):
    """A wrong method on a path that needs a signed-in user says so to anyone, not 401."""
    r = await memos_client.put("/api/v1/memos/m1")
    assert (r.status, r.headers["Allow"], await r.json()) == (405, "DELETE, GET, HEAD, PATCH", ERROR)


async def test_a_cross_origin_405_carries_cors_headers(memos_client):
    r = await memos_client.request("TRACE", "/api/v1/memos", headers={"Origin": "https://elsewhere.example"})
    assert r.status == 405 and r.headers["Access-Control-Allow-Origin"] == "*"


async def test_mcp_get_stays_405_without_a_stream(memos_client):
    r = await memos_client.get("/mcp")
    assert r.status == 405 and r.headers["Allow"] == "POST, DELETE"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/nope"),
        ("TRACE", "/api/v1/nope"),
        ("GET", "/api/v1/memos/m1/nope"),
        ("PUT", "/api/v2/memos"),
        ("GET", "/nope"),
        ("DELETE", "/nope/deeper"),
        ("POST", "/file/attachments/abc"),
        ("GET", "/mcp/x/a/b/c"),
    ],
)
async def test_unknown_paths_stay_404(memos_client, memos_users, method, path):
    alice = await memos_users("alice")
    r = await memos_client.request(method, path, headers=alice.headers)
    assert r.status == 404, await r.text()
    assert "Allow" not in r.headers
    assert await r.json() == {"code": 5, "message": "Not Found", "details": []}
