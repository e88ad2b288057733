async def test_healthz_and_unknown_api_path(memos_client):
    r = await memos_client.get("/healthz")
    assert r.status == 200 and await r.text() == "Service ready."
    r = await memos_client.get("/api/v1/nope")
    assert r.status == 404
    assert await r.json() == {"code": 5, "message": "Not Found", "details": []}


async def test_plugins_endpoint_needs_admin(memos_client, memos_users, memos_config):
    r = await memos_client.get("/api/v1/plugins")
    assert r.status == 401
    admin = await memos_users("root", role="ADMIN")
    r = await memos_client.get("/api/v1/plugins", headers=admin.headers)
    assert r.status == 200
    body = await r.json()
    names = {p["name"] for p in body["plugins"]}
    assert {memos_config.driver, "markdown", "core-auth"} <= names
