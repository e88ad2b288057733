"""Instance settings (``system_setting``) and per-user settings (``user_setting``): JSON values by key."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from . import tables

ss = tables.system_setting
us = tables.user_setting


async def get_instance_setting(store, key: str) -> dict[str, Any] | None:
    raw = await store.fetch_val(sa.select(ss.c.value).where(ss.c.name == key))
    return _loads(raw)


async def set_instance_setting(store, key: str, value: dict[str, Any]) -> None:
    stmt = store.driver.upsert(ss, {"name": key, "value": json.dumps(value), "description": ""}, ["name"], ["value"])
    await store.execute(stmt)


async def get_user_setting(store, user_id: int, key: str) -> dict[str, Any] | None:
    raw = await store.fetch_val(sa.select(us.c.value).where(us.c.user_id == user_id, us.c.key == key))
    return _loads(raw)


async def set_user_setting(store, user_id: int, key: str, value: dict[str, Any]) -> None:
    stmt = store.driver.upsert(
        us, {"user_id": user_id, "key": key, "value": json.dumps(value)}, ["user_id", "key"], ["value"]
    )
    await store.execute(stmt)


async def list_user_settings(store, user_id: int) -> list[tuple[str, dict[str, Any]]]:
    rows = await store.fetch_all(sa.select(us.c.key, us.c.value).where(us.c.user_id == user_id))
    return [(r["key"], _loads(r["value"]) or {}) for r in rows]


async def find_user_settings_containing(store, key: str, needle: str) -> list[tuple[int, dict[str, Any]]]:
    """User settings of ``key`` whose JSON text contains ``needle`` (a narrowing scan, e.g. a PAT
    hash: portable across databases, the caller checks the decoded value)."""
    q = sa.select(us.c.user_id, us.c.value).where(us.c.key == key, us.c.value.contains(needle, autoescape=True))
    return [(r["user_id"], _loads(r["value"]) or {}) for r in await store.fetch_all(q)]


def loads(raw: str | None) -> dict[str, Any] | None:
    """A stored setting value: ``None`` when absent, ``{}`` when it is not a JSON object."""
    return _loads(raw)


def _loads(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def get_user_setting_for_update(store, user_id: int, key: str) -> dict[str, Any] | None:
    """Like :func:`get_user_setting`, locking for the caller's transaction (read-modify-write of a
    JSON value must not lose a concurrent writer's change; SQLite serialises writers anyway).

    The lock is taken on the user's row, which exists even before the setting's first write: two
    first writers would otherwise both read nothing, lock nothing, and the later upsert would
    overwrite the earlier one.
    """
    await store.fetch_val(sa.select(tables.user.c.id).where(tables.user.c.id == user_id).with_for_update())
    q = sa.select(us.c.value).where(us.c.user_id == user_id, us.c.key == key).with_for_update()
    return _loads(await store.fetch_val(q))


async def lock_instance_settings(store) -> None:
    """Lock the BASIC instance setting row for the current transaction.

    Used as a portable mutex for decisions that read then insert, such as "the first user becomes
    ADMIN": the row always exists after start-up, so ``FOR UPDATE`` on it serialises such
    transactions across processes (SQLite ignores the clause; its writers are serialised already).
    """
    await store.fetch_val(sa.select(ss.c.name).where(ss.c.name == "BASIC").with_for_update())
