"""Identity provider rows (``idp``) and the provider accounts linked to users (``user_identity``).

``idp.config`` holds the protojson of an ``OAuth2Config`` (camelCase, defaults omitted), TEXT on SQLite
and MySQL, JSONB on PostgreSQL. ``user_identity.provider`` is the IdP's uid, ``extern_uid`` the account's
identifier at that provider; each pair is unique, and a user links at most one account per provider.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from . import tables
from . import users as users_store
from .memos import dumps, loads  # the JSON column helpers every Memos table shares
from .users import User

t = tables.idp
ui = tables.user_identity


@dataclasses.dataclass
class IdentityProvider:
    id: int
    uid: str
    title: str  # the ``name`` column
    type: str
    identifier_filter: str
    config: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> IdentityProvider:
        return cls(
            id=row["id"],
            uid=row["uid"],
            title=row["name"] or "",
            type=row["type"] or "",
            identifier_filter=row["identifier_filter"] or "",
            config=loads(row["config"]),
        )


@dataclasses.dataclass
class UserIdentity:
    id: int
    user_id: int
    provider: str
    extern_uid: str
    created_ts: int
    updated_ts: int

    @classmethod
    def from_row(cls, row: Any) -> UserIdentity:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            provider=row["provider"],
            extern_uid=row["extern_uid"],
            created_ts=int(row["created_ts"] or 0),
            updated_ts=int(row["updated_ts"] or 0),
        )


# -- identity providers ----------------------------------------------------------------------------
async def list_idps(store) -> list[IdentityProvider]:
    rows = await store.fetch_all(sa.select(*t.c).order_by(t.c.id.asc()))
    return [IdentityProvider.from_row(r) for r in rows]


async def get_idp(store, uid: str) -> IdentityProvider | None:
    row = await store.fetch_one(sa.select(*t.c).where(t.c.uid == uid))
    # The equality re-check keeps lookups case-sensitive under MySQL's case-insensitive collation.
    return IdentityProvider.from_row(row) if row and row["uid"] == uid else None


async def insert_idp(
    store, *, uid: str, title: str, type: str, identifier_filter: str, config: dict[str, Any]
) -> IdentityProvider:
    idp_id = await store.execute(
        t.insert().values(uid=uid, name=title, type=type, identifier_filter=identifier_filter, config=dumps(config))
    )
    return IdentityProvider(idp_id, uid, title, type, identifier_filter, config)


async def update_idp(store, idp_id: int, **values: Any) -> None:
    """Write ``title``, ``identifier_filter``, ``type`` and/or ``config`` of one provider."""
    columns: dict[str, Any] = {}
    if "type" in values:
        columns["type"] = values["type"]
    if "title" in values:
        columns["name"] = values["title"]
    if "identifier_filter" in values:
        columns["identifier_filter"] = values["identifier_filter"]
    if "config" in values:
        columns["config"] = dumps(values["config"])
    if columns:
        await store.execute(t.update().where(t.c.id == idp_id).values(**columns))


async def delete_idp(store, idp_id: int) -> None:
    """Delete the provider row only: linked identities stay (re-creating the uid revives them)."""
    await store.execute(t.delete().where(t.c.id == idp_id))


# -- linked identities -----------------------------------------------------------------------------
async def list_identities(store, user_id: int) -> list[UserIdentity]:
    rows = await store.fetch_all(sa.select(*ui.c).where(ui.c.user_id == user_id).order_by(ui.c.id.asc()))
    return [UserIdentity.from_row(r) for r in rows]


async def find_identity(
    store, *, provider: str, user_id: int | None = None, extern_uid: str | None = None
) -> UserIdentity | None:
    """The link of ``user_id`` for ``provider``, or the link of ``extern_uid`` at ``provider``."""
    q = sa.select(*ui.c).where(ui.c.provider == provider)
    if user_id is not None:
        q = q.where(ui.c.user_id == user_id)
    if extern_uid is not None:
        q = q.where(ui.c.extern_uid == extern_uid)
    for row in await store.fetch_all(q.order_by(ui.c.id.asc())):
        # Exact matches only (MySQL compares VARCHARs case-insensitively).
        if row["provider"] == provider and (extern_uid is None or row["extern_uid"] == extern_uid):
            return UserIdentity.from_row(row)
    return None


async def insert_identity(store, *, user_id: int, provider: str, extern_uid: str, now: int) -> None:
    await store.execute(
        ui.insert().values(user_id=user_id, provider=provider, extern_uid=extern_uid, created_ts=now, updated_ts=now)
    )


async def delete_identity(store, *, user_id: int, provider: str) -> None:
    await store.execute(ui.delete().where(ui.c.user_id == user_id, ui.c.provider == provider))


async def create_user_with_identity(
    store, user_values: dict[str, Any], *, provider: str, extern_uid: str, now: int
) -> User:
    """Insert a user and its link in one transaction: a unique violation (another first sign-in of
    the same account won the race) rolls both back and propagates."""
    async with store.transaction():
        user = await users_store.create_user(store, **user_values)
        await insert_identity(store, user_id=user.id, provider=provider, extern_uid=extern_uid, now=now)
    return user
