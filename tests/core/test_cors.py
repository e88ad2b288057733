"""CORS on the REST gateway group: any origin, no credentials; preflights answered with 204."""

from __future__ import annotations

ORIGIN = {"Origin": "https://client.example"}


async def test_preflight_is_answered_for_any_api_path(memos_client):
    for path in ("/api/v1/memos", "/api/v1/memos/abc", "/api/v1/no/such/route"):
        r = await memos_client.options(
            path,
            headers={
                **ORIGIN,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert r.status == 204, path
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["Access-Control-Allow-Methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"
        assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
        assert "Access-Control-Allow-Credentials" not in r.headers


async def test_answers_and_errors_carry_the_origin_header(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/auth/me", headers={**ORIGIN, **alice.headers})
    assert r.status == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Origin" in r.headers.getall("Vary")
    r = await memos_client.get("/api/v1/auth/me", headers=ORIGIN)  # 401 in the Memos shape, still readable
    assert r.status == 401
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = await memos_client.get("/api/v1/nothing-here", headers=ORIGIN)
    assert r.status == 404
    assert r.headers["Access-Control-Allow-Origin"] == "*"


async def test_no_cors_headers_without_origin_or_outside_the_api(memos_client):
    r = await memos_client.get("/api/v1/instance/profile")
    assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
    r = await memos_client.get("/healthz", headers=ORIGIN)
    assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
    r = await memos_client.get("/explore/rss.xml", headers=ORIGIN)
    assert "Access-Control-Allow-Origin" not in r.headers


async def test_options_without_preflight_headers_is_not_a_preflight(memos_client):
    r = await memos_client.options("/api/v1/memos")
    assert r.status == 405  # a known path, a method it does not serve
    assert (await r.json())["code"] == 12
    assert r.headers["Allow"] == "GET, HEAD, POST"


async def test_plugin_routes_under_api_v1_get_the_same_cors(memos_client, memos_users):
    """A plugin's own route under /api/v1/ (the email plugin's test message) answers cross-origin
    callers as the core's routes do: preflight and the header on its answers, errors included."""
    origin = {"Origin": "https://client.example"}
    r = await memos_client.options(
        "/api/v1/email:sendTest",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert r.status == 204 and r.headers["Access-Control-Allow-Headers"] == "authorization"
    r = await memos_client.post("/api/v1/email:sendTest", json={}, headers=origin)
    assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == "*"
    r = await memos_client.get("/healthz", headers=origin)
    assert "Access-Control-Allow-Origin" not in r.headers
