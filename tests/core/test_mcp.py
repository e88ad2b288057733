"""The MCP endpoint: transport, origin/CORS/auth, tool filtering, tools, resource, prompts."""

from __future__ import annotations

import base64
import re

import pytest

from memos_core.mcp import allowed_origin
from memos_core.mcp.protocol import LATEST_PROTOCOL_VERSION

ALL_TOOLS = {
    "list_memos",
    "get_memo",
    "create_memo",
    "update_memo",
    "delete_memo",
    "search_memos",
    "list_memo_comments",
    "create_memo_comment",
    "list_tags",
    "list_attachments",
    "get_attachment",
    "delete_attachment",
    "link_attachment_to_memo",
    "list_memo_relations",
    "create_memo_relation",
    "delete_memo_relation",
    "list_reactions",
    "upsert_reaction",
    "delete_reaction",
}
READ_TOOLS = {
    "list_memos",
    "get_memo",
    "search_memos",
    "list_memo_comments",
    "list_tags",
    "list_attachments",
    "get_attachment",
    "list_memo_relations",
    "list_reactions",
}
JSON = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class Mcp:
    """An MCP client session over the test client."""

    def __init__(self, client, user=None, path="/mcp", headers=None) -> None:
        self.client = client
        self.path = path
        self.headers = {**JSON, **(user.headers if user else {}), **(headers or {})}
        self.next_id = 0

    async def start(self) -> dict:
        r = await self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": _init_params()})
        assert r.status == 200, await r.text()
        self.headers["Mcp-Session-Id"] = r.headers["Mcp-Session-Id"]
        self.headers["MCP-Protocol-Version"] = (await r.json())["result"]["protocolVersion"]
        r = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert r.status == 202
        return self

    async def post(self, body, **headers):
        return await self.client.post(self.path, json=body, headers={**self.headers, **headers})

    async def rpc(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            body["params"] = params
        r = await self.post(body)
        assert r.status == 200, await r.text()
        data = await r.json()
        assert data["jsonrpc"] == "2.0" and data["id"] == self.next_id
        return data

    async def result(self, method: str, params: dict | None = None) -> dict:
        data = await self.rpc(method, params)
        assert "result" in data, data
        return data["result"]

    async def call(self, tool: str, **arguments):
        """The tool's JSON value; fails the test on a tool error."""
        result = await self.result("tools/call", {"name": tool, "arguments": arguments})
        assert not result.get("isError"), result
        import json

        value = json.loads(result["content"][0]["text"])
        if isinstance(value, dict):
            assert result["structuredContent"] == value
        else:
            assert "structuredContent" not in result
        return value

    async def fails(self, tool: str, **arguments) -> str:
        """The message of a tool error."""
        result = await self.result("tools/call", {"name": tool, "arguments": arguments})
        assert result.get("isError") is True, result
        return result["content"][0]["text"]

    async def tool_names(self) -> set[str]:
        return {t["name"] for t in (await self.result("tools/list"))["tools"]}


def _init_params(version: str = "2025-06-18") -> dict:
    return {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}


@pytest.fixture
async def people(memos_users):
    return {
        "alice": await memos_users("alice"),
        "bob": await memos_users("bob"),
        "root": await memos_users("root", role="ADMIN"),
    }


@pytest.fixture
async def mcp(memos_client, people):
    async def make(who: str | None = None, **kwargs) -> Mcp:
        return await Mcp(memos_client, people[who] if who else None, **kwargs).start()

    return make


async def memo(client, user, content="memo", visibility="PRIVATE", **fields) -> str:
    r = await client.post(
        "/api/v1/memos", json={"content": content, "visibility": visibility, **fields}, headers=user.headers
    )
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


# -- lifecycle and transport -------------------------------------------------------------------------
async def test_initialize_handshake(memos_client):
    client = Mcp(memos_client)
    r = await client.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _init_params("2025-03-26")})
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert re.fullmatch(r"mcp-session-[0-9a-f-]{36}", r.headers["Mcp-Session-Id"])
    body = await r.json()
    assert body["id"] == 1
    result = body["result"]
    assert result["protocolVersion"] == "2025-03-26"
    assert result["serverInfo"] == {"name": "Memos", "version": "1.0.0"}
    assert set(result["capabilities"]) >= {"tools", "resources", "prompts"}

    r = await client.post({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": _init_params("1999-01-01")})
    assert (await r.json())["result"]["protocolVersion"] == LATEST_PROTOCOL_VERSION


async def test_sessions_notifications_get_and_delete(memos_client):
    client = Mcp(memos_client)
    r = await client.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status == 400  # no session id outside initialize
    r = await client.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, **{"Mcp-Session-Id": "nope"})
    assert r.status == 400
    await client.start()
    assert await client.result("ping") == {}
    r = await client.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}})
    assert r.status == 202 and await r.text() == ""
    r = await client.post({"jsonrpc": "2.0", "id": 5, "result": {}})  # a response: nothing to answer
    assert r.status == 202
    r = await memos_client.get("/mcp", headers=client.headers)
    assert r.status == 405
    r = await memos_client.delete("/mcp", headers=client.headers)
    assert r.status == 200
    r = await memos_client.put("/mcp", headers=client.headers)
    assert r.status == 405 and r.headers["Allow"] == "DELETE, POST"
    assert await r.json() == {"code": 12, "message": "Method Not Allowed", "details": []}


async def test_json_rpc_errors(mcp):
    client = await mcp()
    r = await client.client.post("/mcp", data=b"{not json", headers=client.headers)
    assert r.status == 400
    assert (await r.json())["error"]["code"] == -32700
    r = await client.post({"jsonrpc": "1.0", "id": 3, "method": "ping"})
    assert r.status == 400
    body = await r.json()
    assert body["error"]["code"] == -32600 and body["id"] == 3
    r = await client.post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    assert r.status == 400 and (await r.json())["error"]["code"] == -32600
    r = await client.post({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]})
    assert (await r.json())["error"]["code"] == -32602

    assert (await client.rpc("no/such/method"))["error"]["code"] == -32601
    assert (await client.rpc("tools/call", {"name": "nope"}))["error"]["code"] == -32602
    assert (await client.rpc("tools/call", {"name": "get_memo", "arguments": []}))["error"]["code"] == -32602
    assert (await client.rpc("tools/call", {}))["error"]["code"] == -32602
    assert (await client.rpc("resources/read", {}))["error"]["code"] == -32602
    assert (await client.rpc("logging/setLevel", {"level": "loud"}))["error"]["code"] == -32602
    assert await client.result("logging/setLevel", {"level": "info"}) == {}

    r = await client.client.post("/mcp", data=b"{}", headers={**client.headers, "Content-Type": "text/plain"})
    assert r.status == 400
    r = await client.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, **{"MCP-Protocol-Version": "1999-01-01"})
    assert r.status == 400
    r = await client.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, Accept="text/html")
    assert r.status == 406


# -- origin, CORS, credentials -------------------------------------------------------------------------
def test_allowed_origin_rules():
    assert allowed_origin("http://example.com:8080", "example.com:8080", "")
    assert allowed_origin("https://EXAMPLE.com", "example.com", "")  # host only, any scheme
    assert not allowed_origin("http://evil.test", "example.com", "")
    assert not allowed_origin("null", "example.com", "")
    assert allowed_origin("https://memos.example", "127.0.0.1:5230", "https://memos.example")
    assert not allowed_origin("http://memos.example", "127.0.0.1:5230", "https://memos.example")


async def test_origin_check_and_cors(memos_client):
    ping = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _init_params()}
    r = await memos_client.post("/mcp", json=ping, headers={**JSON, "Origin": "http://evil.test"})
    assert r.status == 403
    assert await r.json() == {"message": "invalid origin"}
    assert "Access-Control-Allow-Origin" not in r.headers
    r = await memos_client.options("/mcp", headers={"Origin": "http://evil.test"})
    assert r.status == 403

    origin = f"http://{memos_client.host}:{memos_client.port}"
    r = await memos_client.post("/mcp", json=ping, headers={**JSON, "Origin": origin})
    assert r.status == 200
    assert r.headers["Access-Control-Allow-Origin"] == origin
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, DELETE, OPTIONS"
    for header in ("Authorization", "Mcp-Session-Id", "MCP-Protocol-Version", "X-MCP-Readonly", "X-MCP-Tools"):
        assert header in r.headers["Access-Control-Allow-Headers"]
    assert "Origin" in r.headers["Vary"]

    r = await memos_client.options("/mcp/x/memos", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert r.status == 204
    assert r.headers["Access-Control-Allow-Origin"] == origin

    r = await memos_client.post("/mcp", json=ping, headers=JSON)  # no Origin: no CORS headers
    assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


async def test_invalid_credentials_are_401(memos_client, people):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _init_params()}
    for value in ("Bearer not-a-token", "Bearer memos_pat_nope", "Basic abc", "Bearer"):
        r = await memos_client.post("/mcp", json=init, headers={**JSON, "Authorization": value})
        assert r.status == 401, value
        assert await r.json() == {"message": "invalid or expired token"}
    origin = f"http://{memos_client.host}:{memos_client.port}"
    r = await memos_client.post("/mcp", json=init, headers={**JSON, "Authorization": "Bearer x", "Origin": origin})
    assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == origin
    r = await memos_client.post("/mcp", json=init, headers={**JSON, **people["alice"].headers})
    assert r.status == 200


async def test_personal_access_token_works(memos_client, people, mcp):
    alice = people["alice"]
    r = await memos_client.post(
        f"/api/v1/{alice.name}/personalAccessTokens", json={"description": "mcp"}, headers=alice.headers
    )
    assert r.status == 200, await r.text()
    token = (await r.json())["token"]
    client = await Mcp(memos_client, headers={"Authorization": f"Bearer {token}"}).start()
    created = await client.call("create_memo", content="via pat")
    assert created["creator"] == alice.name


# -- tool filtering ----------------------------------------------------------------------------------
async def test_tools_list_and_schemas(mcp):
    tools = (await (await mcp()).result("tools/list"))["tools"]
    assert {t["name"] for t in tools} == ALL_TOOLS
    by_name = {t["name"]: t for t in tools}
    schema = by_name["list_memos"]["inputSchema"]
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"page_size", "page", "state", "order_by_pinned", "filter"}
    assert "required" not in schema
    assert by_name["create_memo"]["inputSchema"]["required"] == ["content"]
    assert by_name["create_memo_relation"]["inputSchema"]["required"] == ["name", "related_memo"]
    assert by_name["delete_reaction"]["inputSchema"]["properties"]["id"]["type"] == "number"
    assert by_name["get_memo"]["annotations"]["readOnlyHint"] is True
    assert by_name["delete_memo"]["annotations"]["destructiveHint"] is True


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/mcp", {"X-MCP-Readonly": "yes"}, READ_TOOLS),
        ("/mcp", {"X-MCP-Readonly": "off"}, ALL_TOOLS),
        ("/mcp/readonly", {}, READ_TOOLS),
        (
            "/mcp",
            {"X-MCP-Toolsets": "Tags, reactions"},
            {"list_tags", "list_reactions", "upsert_reaction", "delete_reaction"},
        ),
        (
            "/mcp/x/tags,relations",
            {},
            {"list_tags", "list_memo_relations", "create_memo_relation", "delete_memo_relation"},
        ),
        ("/mcp/x/reactions/readonly", {}, {"list_reactions"}),
        ("/mcp/x/tags", {"X-MCP-Tools": "get_memo,nope"}, {"list_tags", "get_memo"}),
        (
            "/mcp",
            {"X-MCP-Exclude-Tools": "delete_memo, delete_attachment"},
            ALL_TOOLS - {"delete_memo", "delete_attachment"},
        ),
        ("/mcp/readonly", {"X-MCP-Tools": "create_memo"}, READ_TOOLS),  # readonly wins
        ("/mcp/x/nothing", {}, set()),
        ("/mcp/x/readonly", {}, set()),  # a toolset named "readonly", as upstream reads the path
    ],
)
async def test_tool_filtering(memos_client, path, headers, expected):
    client = await Mcp(memos_client, path=path, headers=headers).start()
    assert await client.tool_names() == expected


async def test_filtered_tools_cannot_be_called(memos_client, people):
    client = await Mcp(memos_client, people["alice"], path="/mcp/readonly").start()
    message = await client.fails("create_memo", content="x")
    assert message == 'tool "create_memo" is not enabled by MCP configuration'
    client = await Mcp(memos_client, people["alice"], headers={"X-MCP-Exclude-Tools": "list_tags"}).start()
    assert "not enabled" in await client.fails("list_tags")


# -- memos -----------------------------------------------------------------------------------------
async def test_create_get_update_delete_memo(mcp, memos_client, people):
    alice = await mcp("alice")
    created = await alice.call("create_memo", content="Hello #work [x](https://e.x)", visibility="PROTECTED")
    assert created["name"].startswith("memos/")
    assert created["creator"] == "users/alice"
    assert created["visibility"] == "PROTECTED" and created["state"] == "NORMAL" and created["pinned"] is False
    assert created["tags"] == ["work"]
    assert created["property"]["has_link"] is True
    assert isinstance(created["create_time"], int) and isinstance(created["update_time"], int)
    assert (await alice.call("create_memo", content="plain"))["visibility"] == "PRIVATE"
    assert "property" not in await alice.call("create_memo", content="plain")

    assert await alice.call("get_memo", name=created["name"]) == created
    updated = await alice.call("update_memo", name=created["name"], content="Changed #home", pinned=True)
    assert updated["content"] == "Changed #home" and updated["tags"] == ["home"] and updated["pinned"] is True
    assert updated["visibility"] == "PROTECTED"
    archived = await alice.call("update_memo", name=created["name"], state="ARCHIVED")
    assert archived["state"] == "ARCHIVED"

    bob, root = await mcp("bob"), await mcp("root")
    assert "not found" in await bob.fails("get_memo", name=created["name"])  # archived: creator only
    assert "not found" in await root.fails("get_memo", name=created["name"])
    await alice.call("update_memo", name=created["name"], state="NORMAL")
    assert (await bob.call("get_memo", name=created["name"]))["name"] == created["name"]
    assert "permission denied" in await bob.fails("update_memo", name=created["name"], content="hijack")
    assert "permission denied" in await root.fails("delete_memo", name=created["name"])  # creator only
    assert "must be" in await alice.fails("update_memo", name=created["name"], visibility="SECRET")
    assert "format" in await alice.fails("get_memo", name="abc")

    assert await alice.call("delete_memo", name=created["name"]) == {"deleted": True}
    assert "not found" in await alice.fails("get_memo", name=created["name"])

    anon = await mcp()
    assert await anon.fails("create_memo", content="x") == "unauthenticated: a personal access token is required"
    assert "required" in await alice.fails("create_memo", content="")


async def test_visibility_anonymous_sees_only_public(mcp, memos_client, people):
    a = people["alice"]
    public = await memo(memos_client, a, "public one", "PUBLIC")
    protected = await memo(memos_client, a, "protected one", "PROTECTED")
    private = await memo(memos_client, a, "private one", "PRIVATE")
    anon, bob, root = await mcp(), await mcp("bob"), await mcp("root")

    assert [m["name"] for m in (await anon.call("list_memos"))["memos"]] == [public]
    assert {m["name"] for m in (await bob.call("list_memos"))["memos"]} == {public, protected}
    assert {m["name"] for m in (await root.call("list_memos"))["memos"]} == {public, protected}  # no bypass
    alice = await mcp("alice")
    assert {m["name"] for m in (await alice.call("list_memos"))["memos"]} == {public, protected, private}

    assert (await anon.call("get_memo", name=public))["name"] == public
    assert "authenticated" in await anon.fails("get_memo", name=protected)
    assert "permission denied" in await root.fails("get_memo", name=private)
    assert [m["name"] for m in await anon.call("search_memos", query="one")] == [public]
    assert {m["name"] for m in await bob.call("search_memos", query="one")} == {public, protected}
    assert await bob.call("search_memos", query='say "one" \\ 100% ü') == []  # quoted into the filter


async def test_search_memos_matches_text_as_written_or_words_ranked(mcp, memos_client, people):
    a = people["alice"]
    once = await memo(memos_client, a, "a long note that mentions tomatoes once among many other words")
    often = await memo(memos_client, a, "tomatoes, tomatoes and more tomatoes")
    await memo(memos_client, a, "nothing to see here")
    alice = await mcp("alice")
    # "text" (the default) is upstream's substring match, newest first: part of a word matches.
    assert [m["name"] for m in await alice.call("search_memos", query="omatoe")] == [often, once]
    # "words" is ListMemos' ranked full-text search: whole words, the most relevant first.
    assert [m["name"] for m in await alice.call("search_memos", query="tomatoes", mode="words")] == [often, once]
    assert await alice.call("search_memos", query="omatoe", mode="words") == []
    assert "words" in await alice.fails("search_memos", query="x", mode="nonsense")
    tools = (await alice.result("tools/list", {}))["tools"]
    mode = next(t for t in tools if t["name"] == "search_memos")["inputSchema"]["properties"]["mode"]
    assert mode["enum"][:2] == ["text", "words"]


async def test_list_memos_paging_state_order_and_filter(mcp, memos_client, people):
    a = people["alice"]
    names = [
        await memo(memos_client, a, f"memo {i} #t{i % 2}", "PUBLIC", createTime=f"2024-01-0{i + 1}T00:00:00Z")
        for i in range(5)
    ]
    alice = await mcp("alice")
    page0 = await alice.call("list_memos", page_size=2)
    assert [m["name"] for m in page0["memos"]] == [names[4], names[3]] and page0["has_more"] is True
    page2 = await alice.call("list_memos", page_size=2, page=2)
    assert [m["name"] for m in page2["memos"]] == [names[0]] and page2["has_more"] is False
    assert len((await alice.call("list_memos", page_size=0))["memos"]) == 5  # 0 means the default, 20
    assert len((await alice.call("list_memos", page_size=1000))["memos"]) == 5

    await alice.call("update_memo", name=names[1], pinned=True)
    assert (await alice.call("list_memos", order_by_pinned=True))["memos"][0]["name"] == names[1]
    assert (await alice.call("list_memos"))["memos"][0]["name"] == names[4]

    filtered = await alice.call("list_memos", filter='tags.exists(t, t == "t1")')
    assert {m["name"] for m in filtered["memos"]} == {names[1], names[3]}
    assert await alice.fails("list_memos", filter="this is not cel (")

    await alice.call("update_memo", name=names[0], state="ARCHIVED")
    assert [m["name"] for m in (await alice.call("list_memos", state="ARCHIVED"))["memos"]] == [names[0]]
    assert (await (await mcp("bob")).call("list_memos", state="ARCHIVED"))["memos"] == []
    assert (await (await mcp()).call("list_memos", state="ARCHIVED"))["memos"] == []
    assert "state must be" in await alice.fails("list_memos", state="GONE")


async def test_comments(mcp, memos_client, people):
    a = people["alice"]
    parent = await memo(memos_client, a, "parent", "PROTECTED")
    private = await memo(memos_client, a, "secret", "PRIVATE")
    bob, anon = await mcp("bob"), await mcp()
    comment = await bob.call("create_memo_comment", name=parent, content="nice")
    assert comment["parent"] == parent
    assert comment["visibility"] == "PROTECTED"  # inherited
    assert comment["creator"] == "users/bob"
    assert [c["name"] for c in await bob.call("list_memo_comments", name=parent)] == [comment["name"]]
    assert "authenticated" in await anon.fails("list_memo_comments", name=parent)
    assert "permission denied" in await bob.fails("create_memo_comment", name=private, content="x")
    assert "unauthenticated" in await anon.fails("create_memo_comment", name=parent, content="x")
    # comments never show up in list_memos
    assert comment["name"] not in {m["name"] for m in (await bob.call("list_memos"))["memos"]}


async def test_list_tags(mcp, memos_client, people):
    a, b = people["alice"], people["bob"]
    await memo(memos_client, a, "#work #home", "PUBLIC")
    await memo(memos_client, a, "#work", "PROTECTED")
    await memo(memos_client, b, "#zzz #work", "PRIVATE")
    anon, alice, bob = await mcp(), await mcp("alice"), await mcp("bob")
    assert await anon.call("list_tags") == [{"tag": "home", "count": 1}, {"tag": "work", "count": 1}]
    assert await alice.call("list_tags") == [{"tag": "work", "count": 2}, {"tag": "home", "count": 1}]
    assert await bob.call("list_tags") == [
        {"tag": "work", "count": 3},
        {"tag": "home", "count": 1},
        {"tag": "zzz", "count": 1},
    ]


# -- attachments -----------------------------------------------------------------------------------
async def attachment(client, user, memo_name: str | None = None) -> str:
    body = {"filename": "note.txt", "content": base64.b64encode(b"hello").decode(), "type": "text/plain"}
    if memo_name:
        body["memo"] = memo_name
    r = await client.post("/api/v1/attachments", json=body, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


async def test_attachments(mcp, memos_client, people):
    a = people["alice"]
    private = await memo(memos_client, a, "private", "PRIVATE")
    public = await memo(memos_client, a, "public", "PUBLIC")
    loose = await attachment(memos_client, a)
    linked = await attachment(memos_client, a, private)
    alice, bob, root, anon = await mcp("alice"), await mcp("bob"), await mcp("root"), await mcp()

    listed = await alice.call("list_attachments")
    assert {x["name"] for x in listed["attachments"]} == {loose, linked} and listed["has_more"] is False
    page = await alice.call("list_attachments", page_size=1)
    assert len(page["attachments"]) == 1 and page["has_more"] is True
    assert len((await alice.call("list_attachments", page_size=1, page=1))["attachments"]) == 1
    by_memo = await alice.call("list_attachments", memo=private)
    assert [x["name"] for x in by_memo["attachments"]] == [linked]
    assert (await bob.call("list_attachments"))["attachments"] == []
    assert "unauthenticated" in await anon.fails("list_attachments")

    got = await alice.call("get_attachment", name=linked)
    assert got["creator"] == "users/alice" and got["filename"] == "note.txt" and got["size"] == 5
    assert got["memo"] == private and got["type"] == "text/plain" and got["storage_type"]
    assert isinstance(got["create_time"], int)
    assert "permission denied" in await bob.fails("get_attachment", name=linked)
    assert "permission denied" in await root.fails("get_attachment", name=linked)  # no admin bypass
    assert await root.fails("get_attachment", name=loose)

    assert "permission denied" in await bob.fails("link_attachment_to_memo", name=loose, memo=public)
    moved = await alice.call("link_attachment_to_memo", name=loose, memo=public)
    assert moved["memo"] == public
    assert (await anon.call("get_attachment", name=loose))["memo"] == public  # follows the PUBLIC memo
    assert (await alice.call("link_attachment_to_memo", name=loose, memo=public))["memo"] == public  # again
    r = await memos_client.get(f"/api/v1/{public}/attachments", headers=a.headers)
    assert [x["name"] for x in (await r.json())["attachments"]] == [loose]

    assert "not found" in await bob.fails("delete_attachment", name=loose)
    assert await alice.call("delete_attachment", name=loose) == {"deleted": True}
    assert "not found" in await alice.fails("get_attachment", name=loose)


# -- relations -------------------------------------------------------------------------------------
async def test_relations(mcp, memos_client, people):
    a, b = people["alice"], people["bob"]
    one = await memo(memos_client, a, "one", "PUBLIC")
    two = await memo(memos_client, a, "two", "PUBLIC")
    three = await memo(memos_client, a, "three", "PROTECTED")
    bobs = await memo(memos_client, b, "bob private", "PRIVATE")
    alice, bob, anon = await mcp("alice"), await mcp("bob"), await mcp()

    assert await alice.call("create_memo_relation", name=one, related_memo=two) == {
        "memo": one,
        "related_memo": two,
        "type": "REFERENCE",
    }
    await alice.call("create_memo_relation", name=one, related_memo=three)
    await alice.call("create_memo_relation", name=one, related_memo=two)  # idempotent
    rels = await alice.call("list_memo_relations", name=one)
    assert sorted(r["related_memo"] for r in rels) == sorted([two, three])
    assert [r["related_memo"] for r in await anon.call("list_memo_relations", name=one)] == [two]  # both ends public
    assert [r["memo"] for r in await alice.call("list_memo_relations", name=two, type="REFERENCE")] == [one]
    assert await alice.call("list_memo_relations", name=two, type="COMMENT") == []

    assert "permission denied" in await bob.fails("create_memo_relation", name=one, related_memo=two)
    assert "permission denied" in await alice.fails("create_memo_relation", name=one, related_memo=bobs)
    assert "itself" in await alice.fails("create_memo_relation", name=one, related_memo=one)
    assert "not found" in await alice.fails("create_memo_relation", name=one, related_memo="memos/missing")

    assert await alice.call("delete_memo_relation", name=one, related_memo=two) == {"deleted": True}
    assert [r["related_memo"] for r in await alice.call("list_memo_relations", name=one)] == [three]


# -- reactions -------------------------------------------------------------------------------------
async def test_reactions(mcp, memos_client, people):
    a = people["alice"]
    public = await memo(memos_client, a, "public", "PUBLIC")
    private = await memo(memos_client, a, "private", "PRIVATE")
    alice, bob, root, anon = await mcp("alice"), await mcp("bob"), await mcp("root"), await mcp()

    reaction = await bob.call("upsert_reaction", name=public, reaction_type="👍")
    assert reaction["creator"] == "users/bob" and reaction["reaction_type"] == "👍"
    assert isinstance(reaction["id"], int) and isinstance(reaction["create_time"], int)
    assert await bob.call("upsert_reaction", name=public, reaction_type="👍") == reaction  # no-op
    assert "not in the allowed reaction list" in await bob.fails("upsert_reaction", name=public, reaction_type="x")
    assert "permission denied" in await bob.fails("upsert_reaction", name=private, reaction_type="👍")
    assert "permission denied" in await root.fails("upsert_reaction", name=private, reaction_type="👍")
    assert "unauthenticated" in await anon.fails("upsert_reaction", name=public, reaction_type="👍")

    assert await anon.call("list_reactions", name=public) == [reaction]
    assert "permission denied" in await root.fails("list_reactions", name=private)  # no admin bypass

    assert "can only delete your own" in await alice.fails("delete_reaction", id=reaction["id"])
    assert "not found" in await bob.fails("delete_reaction", id=999999)
    assert await bob.call("delete_reaction", id=reaction["id"]) == {"deleted": True}
    assert await anon.call("list_reactions", name=public) == []


# -- resources and prompts ---------------------------------------------------------------------------
async def test_memo_resource(mcp, memos_client, people):
    a = people["alice"]
    name = await memo(memos_client, a, "# Title\n\nbody #work #a&b", "PROTECTED")
    uid = name.removeprefix("memos/")
    alice = await mcp("alice")
    assert (await alice.result("resources/list"))["resources"] == []
    templates = (await alice.result("resources/templates/list"))["resourceTemplates"]
    assert templates == [
        {
            "uriTemplate": "memo://memos/{uid}",
            "name": "Memo",
            "description": templates[0]["description"],
            "mimeType": "text/markdown",
        }
    ]
    contents = (await alice.result("resources/read", {"uri": f"memo://memos/{uid}"}))["contents"]
    assert len(contents) == 1 and contents[0]["uri"] == f"memo://memos/{uid}"
    assert contents[0]["mimeType"] == "text/markdown"
    text = contents[0]["text"]
    header, body = text.split("\n---\n\n", 1)
    lines = header.split("\n")
    assert lines[0] == "---"
    assert f"name: {name}" in lines and "creator: users/alice" in lines and "visibility: PROTECTED" in lines
    assert "state: NORMAL" in lines and "pinned: false" in lines and 'tags: [work, "a&b"]' in lines
    assert any(re.fullmatch(r"create_time: \d+", line) for line in lines)
    assert body == "# Title\n\nbody #work #a&b"

    anon = await mcp()
    error = (await anon.rpc("resources/read", {"uri": f"memo://memos/{uid}"}))["error"]
    assert error["code"] == -32603 and "authenticated" in error["message"]
    assert (await alice.rpc("resources/read", {"uri": "memo://memos/missing"}))["error"]["code"] == -32002
    assert (await alice.rpc("resources/read", {"uri": "file:///etc/passwd"}))["error"]["code"] == -32002


async def test_prompts(mcp):
    client = await mcp()
    prompts = {p["name"]: p for p in (await client.result("prompts/list"))["prompts"]}
    assert set(prompts) == {"capture", "review", "daily_digest", "organize"}
    assert prompts["capture"]["arguments"][0] == {
        "name": "content",
        "description": "The text to save as a memo",
        "required": True,
    }
    got = await client.result("prompts/get", {"name": "capture", "arguments": {"content": "buy milk", "tags": "home"}})
    assert got["description"] == "Capture a memo"
    [message] = got["messages"]
    assert message["role"] == "user" and message["content"]["type"] == "text"
    assert "create_memo" in message["content"]["text"] and "buy milk" in message["content"]["text"]
    assert "Visibility: PRIVATE" in message["content"]["text"] and "#tag syntax: home" in message["content"]["text"]
    review = await client.result("prompts/get", {"name": "review", "arguments": {"topic": "rust"}})
    assert "search_memos" in review["messages"][0]["content"]["text"]
    digest = await client.result("prompts/get", {"name": "daily_digest"})
    assert "last 1 day(s)" in digest["messages"][0]["content"]["text"]
    organize = await client.result("prompts/get", {"name": "organize", "arguments": {"scope": "all"}})
    assert organize["description"] == "Organize memos (scope: all)"
    assert (await client.rpc("prompts/get", {"name": "review"}))["error"]["code"] == -32602
    assert (await client.rpc("prompts/get", {"name": "nope"}))["error"]["code"] == -32602
