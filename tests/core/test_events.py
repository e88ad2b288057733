"""The events catalogue: the core emits only the catalogue's names, through its constants, with
the documented ``extra`` keys, and docs/events.md describes every entry."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import memos_core
from memos_core import Event, events, hookimpl

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "memos_core"
DOC = ROOT / "docs" / "events.md"
CONSTANTS = {name: value for name, value in vars(events).items() if name.isupper() and isinstance(value, str)}


def event_names_in_source() -> list[tuple[str, int, ast.expr]]:
    """Every ``Event(...)`` built in memos_core: (file, line, the expression giving its name)."""
    found = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if called != "Event":
                continue
            name = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            found.append((str(path.relative_to(ROOT)), node.lineno, name))
    return found


def test_the_core_emits_only_catalogue_names_through_the_constants():
    used = set()
    sites = event_names_in_source()
    assert len(sites) >= 8
    for where, line, name in sites:
        ok = (
            isinstance(name, ast.Attribute)
            and isinstance(name.value, ast.Name)
            and name.value.id == "events"
            and name.attr in CONSTANTS
        )
        assert ok, f"{where}:{line} builds an Event whose name is not a memos_core.events constant"
        assert CONSTANTS[name.attr] in events.CATALOGUE, f"{where}:{line}: {name.attr} is not in events.CATALOGUE"
        used.add(CONSTANTS[name.attr])
    assert used == set(events.CATALOGUE), f"catalogue entries the core never emits: {set(events.CATALOGUE) - used}"


def test_every_constant_is_in_the_catalogue_and_public():
    assert set(CONSTANTS.values()) == set(events.CATALOGUE)
    assert "events" in memos_core.__all__ and memos_core.events is events
    for spec in events.CATALOGUE.values():
        assert spec.name.startswith("memos.") and spec.resource and spec.actor


def test_docs_describe_every_event_with_its_constant_and_extra_keys():
    text = DOC.read_text()
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    documented = {}
    for section in sections:
        title, _, body = section.partition("\n")
        documented[title.strip().strip("`")] = body
    assert set(documented) == set(events.CATALOGUE), "docs/events.md headings differ from events.CATALOGUE"
    for constant, name in CONSTANTS.items():
        body = documented[name]
        assert f"`events.{constant}`" in body, f"docs/events.md: {name} does not name events.{constant}"
        for key in events.CATALOGUE[name].extra:
            assert f'`extra["{key}"]`' in body, f"docs/events.md: {name} does not document extra[{key!r}]"
        if not events.CATALOGUE[name].extra:
            assert "`extra`: no keys" in body, f"docs/events.md: {name} must say it has no extra keys"


# -- what a running server emits ------------------------------------------------------------------
class Capture:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def memos_on_event(self, app: web.Application, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def memos_extra_plugins():
    return [Capture()]


async def ok(r) -> Any:
    assert r.status == 200, await r.text()
    return await r.json()


async def test_every_event_a_server_emits_is_catalogued_with_its_extra_keys(
    memos_client, memos_users, memos_extra_plugins
):
    capture = memos_extra_plugins[0]
    client = memos_client
    admin = await memos_users("root", role="ADMIN")
    alice = await memos_users("alice")
    await ok(await client.post("/api/v1/memos?memoId=m1", json={"content": "first"}, headers=alice.headers))
    await ok(await client.patch("/api/v1/memos/m1?updateMask=content", json={"content": "x"}, headers=alice.headers))
    await ok(await client.post("/api/v1/memos/m1/comments?commentId=c1", json={"content": "c"}, headers=alice.headers))
    await ok(await client.patch("/api/v1/memos/c1?updateMask=content", json={"content": "c2"}, headers=alice.headers))
    reaction = await ok(
        await client.post(
            "/api/v1/memos/m1/reactions", json={"reaction": {"reactionType": "👍"}}, headers=alice.headers
        )
    )
    rid = reaction["name"].rsplit("/", 1)[-1]
    assert (await client.delete(f"/api/v1/memos/m1/reactions/{rid}", headers=alice.headers)).status == 200
    assert (await client.delete("/api/v1/memos/m1", headers=alice.headers)).status == 200
    await ok(await client.post("/api/v1/users", json={"username": "carol", "password": "pw"}, headers=admin.headers))
    assert (await client.delete("/api/v1/users/carol", headers=admin.headers)).status == 200

    seen = [e.name for e in capture.events]
    assert set(seen) == set(events.CATALOGUE), f"not exercised: {set(events.CATALOGUE) - set(seen)}"
    for event in capture.events:
        spec = events.CATALOGUE[event.name]
        assert set(event.extra) <= set(spec.extra), f"{event.name} carries undocumented extra keys {event.extra}"
        assert isinstance(event.resource, dict) and event.resource.get("name")
    by_name = {e.name: e for e in capture.events}
    assert isinstance(by_name[events.MEMO_COMMENT_CREATED].extra["parent"], dict)
    assert by_name[events.REACTION_DELETED].extra == {"memo": "memos/m1"}
    assert [e.extra.get("parent") for e in capture.events if e.name == events.MEMO_UPDATED] == [None, "memos/m1"]
