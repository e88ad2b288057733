"""User rows and their queries."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from . import search, tables
from .compiled import Template

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


#: :func:`users_with_setting_containing`'s statement (it runs on every request signed with a PAT).
_WITH_SETTING_CONTAINING = Template(
    select_users()
    .add_columns(tables.user_setting.c.value.label("setting_value"))
    .select_from(t.join(tables.user_setting, tables.user_setting.c.user_id == t.c.id))
    .where(
        tables.user_setting.c.key == sa.bindparam("key", type_=sa.Text),
        tables.user_setting.c.value.like(sa.bindparam("pattern", type_=sa.Text), escape="/"),
    )
)


def _like_containing(needle: str) -> str:
    """A LIKE pattern (escape character ``/``) matching text that contains ``needle`` literally."""
    return "%" + needle.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


async def users_with_setting_containing(store, key: str, needle: str) -> list[tuple[User, str]]:
    """``(user, raw JSON value)`` for each user whose ``key`` setting's text contains ``needle``: one
    statement where a settings scan and a user lookup would be two (a PAT on every API request)."""
    rows = await store.fetch_all(_WITH_SETTING_CONTAINING(key=key, pattern=_like_containing(needle)))
    return [(User.from_row(r), r["setting_value"]) for r in rows]


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


async def get_users_by_identifier(store, identifier: str, *, limit: int = 5) -> list[User]:
    """Users whose username is exactly ``identifier``, or whose email matches it ignoring case
    (Memos does not keep emails unique, so several may), at most ``limit``, oldest first."""
    q = select_users().where(
        sa.or_(t.c.username == identifier, sa.func.lower(t.c.email) == identifier.lower())
        if "@" in identifier
        else t.c.username == identifier
    )
    rows = await store.fetch_all(q.order_by(t.c.id).limit(limit))
    # The equality re-check keeps usernames case-sensitive on databases with case-insensitive collations.
    return [u for u in map(User.from_row, rows) if u.username == identifier or "@" in identifier]


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


async def username_taken(store, username: str, *, exclude_id: int | None = None) -> bool:
    q = sa.select(t.c.id).where(t.c.username == username)
    if exclude_id is not None:
        q = q.where(t.c.id != exclude_id)
    return await store.fetch_val(q.limit(1)) is not None


#: Ids per ``IN (...)`` list when deleting a user's rows (stays far below every database's limit).
DELETE_CHUNK = 500


def _chunks(items: list, size: int = DELETE_CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def delete_user_cascade(store, user_id: int) -> list[dict[str, Any]]:
    """Delete a user and everything hanging off them; call inside a transaction.

    The doomed memos are the user's own plus, recursively, every comment under them (other users'
    comments included), found with one recursive query. Each dependent table is then cleared with a
    few set-based statements (ids go in chunks of :data:`DELETE_CHUNK`). Returns the deleted
    attachment rows, so storage can remove their files after the commit.
    """
    m, rel = tables.memo, tables.memo_relation
    doomed = sa.select(m.c.id.label("id")).where(m.c.creator_id == user_id).cte("doomed", recursive=True)
    doomed = doomed.union(sa.select(rel.c.memo_id).where(rel.c.type == "COMMENT", rel.c.related_memo_id == doomed.c.id))
    rows = await store.fetch_all(sa.select(m.c.id, m.c.uid).where(m.c.id.in_(sa.select(doomed.c.id))))
    memo_ids = [r["id"] for r in rows]
    memo_names = [f"memos/{r['uid']}" for r in rows]

    a = tables.attachment
    attachment_cols = (a.c.id, a.c.uid, a.c.creator_id, a.c.memo_id, a.c.storage_type, a.c.reference, a.c.payload)
    attachments = [
        {c.name: r[c.name] for c in attachment_cols}
        for r in await store.fetch_all(sa.select(*attachment_cols).where(a.c.creator_id == user_id))
    ]
    for chunk in _chunks(memo_ids):
        q = sa.select(*attachment_cols).where(a.c.memo_id.in_(chunk), a.c.creator_id != user_id)
        attachments += [{c.name: r[c.name] for c in attachment_cols} for r in await store.fetch_all(q)]

    rx, share, inbox = tables.reaction, tables.memo_share, tables.inbox
    await store.execute(rx.delete().where(rx.c.creator_id == user_id))
    await store.execute(a.delete().where(a.c.creator_id == user_id))
    await store.execute(share.delete().where(share.c.creator_id == user_id))
    await store.execute(inbox.delete().where(sa.or_(inbox.c.sender_id == user_id, inbox.c.receiver_id == user_id)))
    for chunk in _chunks(memo_names):
        await store.execute(rx.delete().where(rx.c.content_id.in_(chunk)))
    json_text = store.driver.json_text
    for chunk in _chunks(memo_ids):
        await store.execute(a.delete().where(a.c.memo_id.in_(chunk)))
        await store.execute(share.delete().where(share.c.memo_id.in_(chunk)))
        refs = [
            sa.cast(json_text(inbox.c.message, kind, field), sa.Integer).in_(chunk)
            for kind in ("memoComment", "memoMention")
            for field in ("memoId", "relatedMemoId")
        ]
        await store.execute(inbox.delete().where(sa.or_(*refs)))
        await store.execute(rel.delete().where(sa.or_(rel.c.memo_id.in_(chunk), rel.c.related_memo_id.in_(chunk))))
        await store.execute(m.delete().where(m.c.id.in_(chunk)))
        await search.unindex_memos(store, chunk)
    await store.execute(tables.user_identity.delete().where(tables.user_identity.c.user_id == user_id))
    await store.execute(tables.user_setting.delete().where(tables.user_setting.c.user_id == user_id))
    await store.execute(t.delete().where(t.c.id == user_id))
    return attachments
