"""Hostile JSON bodies are a 4xx on every route that reads JSON, never a 500, and write nothing.

One table of bodies (deep nesting, huge numbers, duplicate keys, bad UTF-8, non-objects, too
large) is sent to a sample of REST routes and to MCP. REST answers the Memos error shape (400
code 3, or 413 code 8 over the size limit); MCP answers its JSON-RPC error envelope (-32700 for
text that is not acceptable JSON, -32600 for a value that is not a message). Afterwards the rows
those routes could write are compared with a snapshot taken before.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
import sqlalchemy as sa

from memos_core import jsonbody
from memos_core.context import CONTEXT
from memos_core.jsonbody import DEFAULT_MAX_BYTES, MAX_DEPTH
from memos_core.store import tables

JSON = {"Content-Type": "application/json"}
MCP_HEADERS = {**JSON, "Accept": "application/json, text/event-stream"}


@dataclasses.dataclass(frozen=True)
class Route:
    id: str
    method: str
    path: str
    who: str | None  # "alice", "root" (admin) or None (anonymous)
    template: str  # the body, with %s where the tested value goes
    benign: str  # a value the route accepts there
    too_large: tuple[int, int] = (413, 8)  # the answer to a body over the route's limit

    def body(self, value: bytes) -> bytes:
        return self.template.encode().replace(b"%s", value)

    @property
    def mcp(self) -> bool:
        return self.path.startswith("/mcp")


def _rpc(tool: str, arguments: str) -> str:
    head = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"' + tool + '","arguments":'
    return head + arguments + "}}"


ROUTES = [
    Route("create memo", "POST", "/api/v1/memos", "alice", '{"content":%s}', '"hello"'),
    Route("update memo", "PATCH", "/api/v1/memos/m1?updateMask=content", "alice", '{"content":%s}', '"edited"'),
    Route("comment", "POST", "/api/v1/memos/m1/comments", "alice", '{"content":%s}', '"a comment"'),
    Route(
        "sign-up",
        "POST",
        "/api/v1/users",
        None,
        '{"username":"mallory","password":"pw-12345678","displayName":%s}',
        '"M"',
    ),
    Route(
        "sign-in",
        "POST",
        "/api/v1/auth/signin",
        None,
        '{"passwordCredentials":{"username":"alice","password":%s}}',
        '"alice-password"',
    ),
    Route(
        "user setting",
        "PATCH",
        "/api/v1/users/alice/settings/GENERAL?updateMask=locale",
        "alice",
        '{"generalSetting":{"locale":%s}}',
        '"fr"',
    ),
    Route(
        "instance setting",
        "PATCH",
        "/api/v1/instance/settings/GENERAL",
        "root",
        '{"generalSetting":{"customProfile":{"title":%s}}}',
        '"My memos"',
    ),
    Route(
        "shortcut", "POST", "/api/v1/users/alice/shortcuts", "alice", '{"title":%s,"filter":"tag in [\\"x\\"]"}', '"X"'
    ),
    Route(
        "webhook",
        "POST",
        "/api/v1/users/alice/webhooks",
        "alice",
        '{"url":"https://93.184.215.14/hook","displayName":%s}',
        '"hook"',
    ),
    # Its limit follows the upload limit (1 MiB here), and upstream answers an oversized file 400.
    Route(
        "attachment",
        "POST",
        "/api/v1/attachments",
        "alice",
        '{"filename":"a.txt","content":%s}',
        '"aGk="',
        too_large=(400, 3),
    ),
    Route("mcp tools/call", "POST", "/mcp", "alice", _rpc("create_memo", '{"content":%s}'), '"from mcp"'),
]

DEEP = 10_000


def _whole(body: bytes):
    return lambda route: body


def _value(value: bytes):
    return lambda route: route.body(value)


def _duplicate_top_level_key(route: Route) -> bytes:
    body = route.body(route.benign.encode())
    return b'{"k":1,"k":2,' + body[1:]


def _truncated(route: Route) -> bytes:
    return route.body(route.benign.encode())[:-1]


#: (id, body for a route, REST answer (status, code), MCP answer (status, JSON-RPC code))
BAD = 400, 3
TOO_LARGE = 413, 8
PARSE = 400, -32700
NOT_A_MESSAGE = 400, -32600
TOO_LARGE_ = TOO_LARGE, (413, -32600)
CASES = [
    ("deep array", _whole(b"[" * DEEP + b"]" * DEEP), BAD, PARSE),
    ("deep object", _whole(b'{"a":' * DEEP + b"1" + b"}" * DEEP), BAD, PARSE),
    ("deep array in a field", _value(b"[" * DEEP + b"]" * DEEP), BAD, PARSE),
    ("deep object in a field", _value(b'{"a":' * DEEP + b"1" + b"}" * DEEP), BAD, PARSE),
    ("one level too deep", _value(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH), BAD, PARSE),
    ("unclosed deep array", _value(b"[" * DEEP), BAD, PARSE),
    ("100,000-digit integer", _value(b"9" * 100_000), BAD, PARSE),
    ("100,000-digit fraction", _value(b"0." + b"1" * 100_000), BAD, PARSE),
    ("1e999", _value(b"1e999"), BAD, PARSE),
    ("-1e999", _value(b"-1e999"), BAD, PARSE),
    ("beyond uint64", _value(b"18446744073709551616"), BAD, PARSE),
    ("NaN", _value(b"NaN"), BAD, PARSE),
    ("Infinity", _value(b"Infinity"), BAD, PARSE),
    ("duplicate key", _duplicate_top_level_key, BAD, PARSE),
    ("duplicate key in a nested object", _value(b'{"a":1,"a":1}'), BAD, PARSE),
    ("invalid UTF-8", _value(b'"\xff\xfe"'), BAD, PARSE),
    ("UTF-8-encoded surrogate", _value(b'"\xed\xa0\x80"'), BAD, PARSE),
    ("unpaired surrogate escape", _value(b'"\\udc00x"'), BAD, PARSE),
    ("UTF-16 body", lambda route: route.body(route.benign.encode()).decode().encode("utf-16"), BAD, PARSE),
    ("NUL escape", _value(b'"a\\u0000b"'), BAD, PARSE),
    ("truncated", _truncated, BAD, PARSE),
    ("array body", _whole(b"[]"), BAD, NOT_A_MESSAGE),
    ("string body", _whole(b'"text"'), BAD, NOT_A_MESSAGE),
    ("number body", _whole(b"42"), BAD, NOT_A_MESSAGE),
    ("null body", _whole(b"null"), BAD, NOT_A_MESSAGE),
    ("over the limit", _value(b'"' + b"a" * DEFAULT_MAX_BYTES + b'"'), *TOO_LARGE_),
    ("over the limit, streamed", lambda r: Streamed(_value(b'"' + b"a" * DEFAULT_MAX_BYTES + b'"')(r)), *TOO_LARGE_),
]


async def _snapshot(client) -> dict[str, list]:
    """Every row the sample routes could write, plus what the API lists."""
    ctx = client.app[CONTEXT]
    out: dict[str, list] = {}
    async with ctx.store.connection():
        for table in (tables.memo, tables.user, tables.user_setting, tables.system_setting, tables.attachment):
            rows = await ctx.store.fetch_all(sa.select(table))
            out[table.name] = sorted(repr(tuple(row)) for row in rows)
    return out


async def _counts(client, people) -> dict[str, int]:
    async def listed(path: str, key: str, who: str = "alice") -> int:
        r = await client.get(path, headers=people[who].headers)
        assert r.status == 200, await r.text()
        return len((await r.json())[key])

    return {
        "memos": await listed("/api/v1/memos", "memos"),
        "users": await listed("/api/v1/users", "users", "root"),
        "shortcuts": await listed("/api/v1/users/alice/shortcuts", "shortcuts"),
        "webhooks": await listed("/api/v1/users/alice/webhooks", "webhooks"),
        "attachments": await listed("/api/v1/attachments", "attachments"),
    }


@pytest.fixture
async def setup(memos_client, memos_users):
    """alice, an admin, a memo ``m1`` to update and comment on, a 1 MiB upload limit and an MCP
    session."""
    people = {"alice": await memos_users("alice"), "root": await memos_users("root", role="ADMIN")}
    storage = {"storageSetting": {"storageType": "DATABASE", "uploadSizeLimitMb": "1"}}
    r = await memos_client.patch("/api/v1/instance/settings/STORAGE", json=storage, headers=people["root"].headers)
    assert r.status == 200, await r.text()
    r = await memos_client.post("/api/v1/memos?memoId=m1", json={"content": "first"}, headers=people["alice"].headers)
    assert r.status == 200, await r.text()
    r = await memos_client.post(
        "/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        headers={**MCP_HEADERS, **people["alice"].headers},
    )
    assert r.status == 200, await r.text()
    session = {"Mcp-Session-Id": r.headers["Mcp-Session-Id"]}
    return people, session


class Streamed(bytes):
    """A body sent in chunks without ``Content-Length``, so only reading can find it too large."""


async def _chunks(body: bytes):
    for start in range(0, len(body), 256 * 1024):
        yield body[start : start + 256 * 1024]


async def _send(client, people, session, route: Route, body: bytes):
    headers = dict(MCP_HEADERS if route.mcp else JSON)
    if route.who:
        headers.update(people[route.who].headers)
    if route.mcp:
        headers.update(session)
    data = _chunks(body) if isinstance(body, Streamed) else io.BytesIO(body)  # with Content-Length
    return await client.request(route.method, route.path, data=data, headers=headers)


async def test_the_sample_routes_accept_a_benign_body(memos_client, setup):
    """The control: each route, with its template and a benign value, succeeds, so the rejections
    below come from the hostile part alone."""
    people, session = setup
    for route in ROUTES:
        r = await _send(memos_client, people, session, route, route.body(route.benign.encode()))
        text = await r.text()
        assert r.status == 200, (route.id, text)
        if route.mcp:
            assert '"result"' in text and '"isError":true' not in text, text


@pytest.mark.parametrize(("case", "make", "rest", "mcp"), CASES, ids=[c[0] for c in CASES])
async def test_hostile_body_is_a_4xx_and_writes_nothing(memos_client, setup, case, make, rest, mcp):
    people, session = setup
    before, counts = await _snapshot(memos_client), await _counts(memos_client, people)
    for route in ROUTES:
        r = await _send(memos_client, people, session, route, make(route))
        body = await r.json()
        if route.mcp:
            status, code = mcp
            assert (r.status, body["error"]["code"]) == (status, code), (route.id, r.status, body)
            assert body["jsonrpc"] == "2.0" and isinstance(body["error"]["message"], str)
        else:
            status, code = route.too_large if rest == TOO_LARGE else rest
            assert (r.status, body.get("code")) == (status, code), (route.id, r.status, body)
            assert isinstance(body["message"], str) and body["details"] == [], (route.id, body)
    assert await _snapshot(memos_client) == before
    assert await _counts(memos_client, people) == counts


async def test_memo_content_may_exceed_the_default_limit_as_far_as_the_content_limit_needs(
    memos_client, setup, monkeypatch
):
    """Routes that carry memo content (REST and MCP) read past the default body limit as far as the
    instance's content length limit needs; within that the content check answers, beyond it 413.
    The default is lowered here so the memos stay small enough for every database."""
    monkeypatch.setattr(jsonbody, "DEFAULT_MAX_BYTES", 16 * 1024)
    people, session = setup
    alice, root = people["alice"], people["root"]
    mcp = ROUTES[-1]

    async def post(content: str) -> tuple[int, dict]:
        r = await memos_client.post("/api/v1/memos", json={"content": content}, headers=alice.headers)
        return r.status, await r.json()

    # The default content limit (8 KiB) needs at most 6 * 8 KiB + 64 KiB of JSON.
    status, body = await post("a" * 200 * 1024)
    assert (status, body["code"]) == TOO_LARGE
    status, body = await post("a" * 20 * 1024)
    assert (status, body["message"]) == (400, "content too long")

    limit = {"memoRelatedSetting": {"contentLengthLimit": 40 * 1024}}
    r = await memos_client.patch("/api/v1/instance/settings/MEMO_RELATED", json=limit, headers=root.headers)
    assert r.status == 200, await r.text()
    status, body = await post("a" * 30 * 1024)
    assert status == 200 and len(body["content"]) == 30 * 1024, body
    r = await _send(memos_client, people, session, mcp, mcp.body(b'"' + b"b" * 30 * 1024 + b'"'))
    assert r.status == 200 and '"isError":true' not in await r.text()
    status, body = await post("a" * 50 * 1024)
    assert (status, body["message"]) == (400, "content too long")
    status, body = await post("a" * 400 * 1024)
    assert (status, body["code"]) == TOO_LARGE
    r = await _send(memos_client, people, session, mcp, mcp.body(b'"' + b"b" * 400 * 1024 + b'"'))
    assert (r.status, (await r.json())["error"]["code"]) == (413, -32600)


async def test_depth_up_to_the_limit_is_accepted(memos_client, setup):
    """Nesting is bounded, not forbidden: a value nested to the limit still reaches the service."""
    people, _ = setup
    nested = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    body = b'{"content":"deep","unknownField":' + nested + b"}"
    r = await memos_client.post("/api/v1/memos", data=body, headers={**JSON, **people["alice"].headers})
    assert r.status == 200, await r.text()
