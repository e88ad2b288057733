"""User rows and their queries."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from . import tables

t = tables.user

ROLE_ADMIN = "ADMIN"
ROLE_USER = "USER"
NORMAL = "NORMAL"
ARCHIVED = "ARCHIVED"


@dataclasses.dataclass
class User:
    id: int
    username: str
    role: str
    row_status: str
    email: str
    nickname: str
    avatar_url: str
    description: str
    password_hash: str
    created_ts: int
    updated_ts: int

    @property
    def name(self) -> str:
        return f"users/{self.username}"

    @property
    def is_admin(self) -> bool:
        # HOST is the pre-0.26 name of ADMIN (migrated upstream; accepted here for old rows).
        return self.role in (ROLE_ADMIN, "HOST")

    @property
    def is_archived(self) -> bool:
        return self.row_status == ARCHIVED

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})


_COLUMNS = [t.c[f.name] for f in dataclasses.fields(User)]


def select_users() -> sa.Select:
    return sa.select(*_COLUMNS)


async def get_user(store, *, id: int | None = None, username: str | None = None) -> User | None:
    q = select_users()
    if id is not None:
        q = q.where(t.c.id == id)
    if username is not None:
        q = q.where(t.c.username == username)
    row = await store.fetch_one(q)
    return User.from_row(row) if row else None


async def get_users_by_ids(store, ids: Iterable[int]) -> dict[int, User]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = await store.fetch_all(select_users().where(t.c.id.in_(ids)))
    return {r["id"]: User.from_row(r) for r in rows}


async def get_users_by_usernames(store, usernames: Iterable[str]) -> dict[str, User]:
    names = sorted(set(usernames))
    if not names:
        return {}
    rows = await store.fetch_all(select_users().where(t.c.username.in_(names)))
    return {r["username"]: User.from_row(r) for r in rows}


async def list_users(store, *, username: str | None = None) -> list[User]:
    q = select_users().order_by(t.c.created_ts.desc(), t.c.row_status.desc(), t.c.id.desc())
    if username is not None:
        q = q.where(t.c.username == username)
    return [User.from_row(r) for r in await store.fetch_all(q)]


async def count_users(store) -> int:
    return int(await store.fetch_val(sa.select(sa.func.count()).select_from(t)) or 0)


async def latest_admin(store) -> User | None:
    q = select_users().where(t.c.role.in_([ROLE_ADMIN, "HOST"])).order_by(t.c.created_ts.desc(), t.c.id.desc())
    row = await store.fetch_one(q.limit(1))
    return User.from_row(row) if row else None


async def create_user(store, **values: Any) -> User:
    """Insert a user; ``values`` are column values (``created_ts``/``updated_ts`` required)."""
    user_id = await store.execute(t.insert().values(**values))
    user = await get_user(store, id=user_id)
    assert user is not None
    return user


async def update_user(store, user_id: int, **values: Any) -> None:
    await store.execute(t.update().where(t.c.id == user_id).values(**values))
