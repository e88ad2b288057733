"""Upgrades of an existing Memos database (v0.22 to v0.27) to the schema this code serves.

Upstream Memos names each schema change by a version: the minor version of its release plus the
change's position in that release (the first change of 0.27 is 0.27.1). A database records the
version of the last change applied in the ``BASIC`` instance setting (``schemaVersion``); databases
written by Memos 0.22 recorded it in a ``migration_history`` table instead (read here as a fallback).

:data:`STEPS` lists the changes memos-py knows, in order, each with the same version upstream gives
it, so a database upgraded part of the way by either program continues at the right step. A step is
DDL/DML per dialect, a Python function over the store for data reshaping that SQL cannot express
portably (JSON rewrites), or both (the function runs first, as it may read what the DDL drops).
Some changes exist only on some databases (SQLite needed a table rebuild to relax a CHECK; MySQL
widened a column), so upstream's version numbers differ per dialect within a release; ``dialects``
says where a step applies, and each step keeps the number upstream gives it on that database.

The upgrade itself is :meth:`memos_core.store.Store.migrate`; this module only says what to do.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import settings as settings_store

if TYPE_CHECKING:  # pragma: no cover
    from . import Store

ALL = frozenset({"sqlite", "postgresql", "mysql"})


@dataclasses.dataclass(frozen=True)
class Step:
    """One schema change: ``version`` as upstream numbers it, what it does, and how."""

    version: str
    what: str
    #: DDL/DML per dialect, run in order after :attr:`run`.
    sql: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    #: Data reshaping over the store (inside the step's transaction), before :attr:`sql`.
    run: Callable[[Store], Awaitable[None]] | None = None
    #: The dialects this change exists on; other databases skip it.
    dialects: frozenset[str] = ALL
    #: Tables whose ``CREATE`` statements (and indexes) are taken from the driver's own schema.
    create_tables: tuple[str, ...] = ()

    def statements(self, store: Store) -> list[str]:
        """The step's DDL/DML for the store's dialect."""
        out = list(self.sql.get(store.dialect, ()))
        for table in self.create_tables:
            out += [s for s in store.driver.schema_statements() if _mentions(s, table)]
        return out


def _mentions(statement: str, table: str) -> bool:
    """Whether a statement of the driver's schema creates ``table`` or an index on it."""
    pattern = rf"^CREATE\s+(TABLE|(UNIQUE\s+)?INDEX\s+\S+\s+ON)\s+[`\"]?{re.escape(table)}[`\"]?\s*\("
    return re.match(pattern, statement.strip(), re.IGNORECASE) is not None


# -- data reshaping -------------------------------------------------------------------------------
def _json(raw: Any) -> Any:
    """A JSON column's value as Python (PostgreSQL's JSONB arrives as text or already decoded)."""
    if raw is None or isinstance(raw, (dict, list)):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return None


#: Reaction names Memos used before 0.23, and the emoji that replaced them.
_REACTION_EMOJI = {
    "THUMBS_UP": "👍",
    "THUMBS_DOWN": "👎",
    "HEART": "💛",
    "FIRE": "🔥",
    "CLAPPING_HANDS": "👏",
    "LAUGH": "😂",
    "OK_HAND": "👌",
    "ROCKET": "🚀",
    "EYES": "👀",
    "THINKING_FACE": "🤔",
    "CLOWN_FACE": "🤡",
    "QUESTION_MARK": "❓",
}


async def _reactions_to_emoji(store: Store) -> None:
    """Reactions are stored as the emoji themselves from 0.23 on."""
    reaction = sa.table("reaction", sa.column("reaction_type"))
    for name, emoji in _REACTION_EMOJI.items():
        await store.execute(sa.update(reaction).where(reaction.c.reaction_type == name).values(reaction_type=emoji))


async def _tags_into_payload(store: Store) -> None:
    """Tags move from ``payload.property.tags`` (or the ``memo.tags`` column) to ``payload.tags``.

    Upstream rebuilds every payload from the content at start-up after this release; memos-py
    derives payloads when a memo is written, so the move keeps the tags an old memo already had.
    """
    memo = sa.table("memo", sa.column("id"), sa.column("payload"), sa.column("tags"))
    last = 0
    while True:
        q = sa.select(memo.c.id, memo.c.payload, memo.c.tags).where(memo.c.id > last).order_by(memo.c.id).limit(500)
        rows = await store.fetch_all(q)
        if not rows:
            return
        for row in rows:
            last = row["id"]
            payload = _json(row["payload"])
            payload = dict(payload) if isinstance(payload, dict) else {}
            before = json.dumps(payload, sort_keys=True)
            prop = payload.get("property")
            old = prop.pop("tags", None) if isinstance(prop, dict) else None
            if isinstance(prop, dict) and not prop:
                payload.pop("property")
            column = _json(row["tags"])
            tags = [t for t in (old or column or []) if isinstance(t, str) and t]
            if tags and not payload.get("tags"):
                payload["tags"] = tags
            if json.dumps(payload, sort_keys=True) != before:
                text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                await store.execute(sa.update(memo).where(memo.c.id == row["id"]).values(payload=text))


async def _webhooks_into_settings(store: Store) -> None:
    """Webhooks move from their table into each owner's ``WEBHOOKS`` user setting.

    Upstream dropped the table without moving its rows; memos-py keeps the hooks (ids derived from the
    old row ids, so they are stable)."""
    webhook = sa.table(
        "webhook",
        sa.column("id"),
        sa.column("creator_id"),
        sa.column("name"),
        sa.column("url"),
        sa.column("row_status"),
    )
    q = sa.select(webhook.c.id, webhook.c.creator_id, webhook.c.name, webhook.c.url).where(
        webhook.c.row_status == "NORMAL"
    )
    by_owner: dict[int, list[dict[str, str]]] = {}
    for row in await store.fetch_all(q.order_by(webhook.c.id)):
        entry = {"id": f"{row['id']:016x}", "title": row["name"], "url": row["url"]}
        by_owner.setdefault(row["creator_id"], []).append(entry)
    for owner, hooks in by_owner.items():
        value = await settings_store.get_user_setting(store, owner, "WEBHOOKS") or {}
        kept = [h for h in value.get("webhooks") or [] if isinstance(h, dict)]
        known = {h.get("id") for h in kept}
        await settings_store.set_user_setting(
            store, owner, "WEBHOOKS", {**value, "webhooks": kept + [h for h in hooks if h["id"] not in known]}
        )


async def _host_to_admin(store: Store) -> None:
    """The single HOST role became ADMIN in 0.26."""
    user = sa.table("user", sa.column("role"))
    await store.execute(sa.update(user).where(user.c.role == "HOST").values(role="ADMIN"))


async def _default_storage_database(store: Store) -> None:
    """An instance that never chose a storage kept attachments in the database; 0.27 changed the
    default to local files, so such an instance gets the old default written down."""
    if await settings_store.get_instance_setting(store, "STORAGE") is None:
        await settings_store.set_instance_setting(store, "STORAGE", {"storageType": "DATABASE"})


async def _inbox_without_activities(store: Store) -> None:
    """Inbox messages named an ``activity`` row; from 0.27 they carry the comment's memo ids themselves."""
    inbox = sa.table("inbox", sa.column("id"), sa.column("message"))
    activity = sa.table("activity", sa.column("id"), sa.column("payload"))
    for row in await store.fetch_all(sa.select(inbox.c.id, inbox.c.message)):
        message = _json(row["message"])
        if not isinstance(message, dict) or message.get("activityId") is None:
            continue
        try:
            activity_id = int(message["activityId"])
        except (TypeError, ValueError):
            continue
        raw = await store.fetch_val(sa.select(activity.c.payload).where(activity.c.id == activity_id))
        if raw is None:
            continue  # as upstream: a message whose activity is gone is left as it was
        comment = (_json(raw) or {}).get("memoComment") or {}
        message.pop("activityId")
        message["memoComment"] = {"memoId": comment.get("memoId"), "relatedMemoId": comment.get("relatedMemoId")}
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        await store.execute(sa.update(inbox).where(inbox.c.id == row["id"]).values(message=text))


# -- the steps --------------------------------------------------------------------------------------
STEPS: tuple[Step, ...] = (
    Step("0.23.1", "reactions become emoji", run=_reactions_to_emoji),
    Step(
        "0.24.1",
        "tags move into the memo payload; the tags column and unused memo indexes go",
        run=_tags_into_payload,
        sql={
            # SQLite cannot drop an indexed column.
            "sqlite": [
                "DROP INDEX IF EXISTS idx_memo_tags",
                "DROP INDEX IF EXISTS idx_memo_content",
                "DROP INDEX IF EXISTS idx_memo_visibility",
                "ALTER TABLE memo DROP COLUMN tags",
            ],
            "postgresql": ["ALTER TABLE memo DROP COLUMN IF EXISTS tags"],
            "mysql": ["ALTER TABLE `memo` DROP COLUMN `tags`"],
        },
    ),
    Step(
        "0.24.2",
        "a memo pinned by anyone in memo_organizer is pinned",
        sql={
            "sqlite": [
                "ALTER TABLE memo ADD COLUMN pinned INTEGER NOT NULL CHECK (pinned IN (0, 1)) DEFAULT 0",
                "UPDATE memo SET pinned = 1 WHERE id IN (SELECT memo_id FROM memo_organizer WHERE pinned = 1)",
            ],
            "postgresql": [
                "ALTER TABLE memo ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE",
                "UPDATE memo SET pinned = TRUE WHERE id IN (SELECT memo_id FROM memo_organizer WHERE pinned = 1)",
            ],
            "mysql": [
                "ALTER TABLE `memo` ADD COLUMN `pinned` BOOLEAN NOT NULL DEFAULT FALSE",
                "UPDATE `memo` SET `pinned` = TRUE"
                " WHERE `id` IN (SELECT `memo_id` FROM `memo_organizer` WHERE `pinned` = 1)",
            ],
        },
    ),
    Step(
        "0.24.3",
        "S3 references outgrow VARCHAR",
        sql={"mysql": ["ALTER TABLE `resource` MODIFY `reference` TEXT NOT NULL DEFAULT ('')"]},
        dialects=frozenset({"mysql"}),
    ),
    Step(
        "0.25.1",
        "webhooks move into user settings; the webhook table goes",
        run=_webhooks_into_settings,
        sql={d: ["DROP TABLE IF EXISTS webhook"] for d in ALL},
    ),
    Step(
        "0.26.1",
        "resources are attachments",
        sql={
            # The old indexes go by name; upstream drops their renamed copies in the next steps anyway.
            "sqlite": [
                "ALTER TABLE resource RENAME TO attachment",
                "DROP INDEX IF EXISTS idx_resource_creator_id",
                "DROP INDEX IF EXISTS idx_resource_memo_id",
            ],
            "postgresql": ["ALTER TABLE resource RENAME TO attachment"],
            "mysql": ["RENAME TABLE `resource` TO `attachment`"],
        },
    ),
    Step(
        "0.26.2",
        "memo_organizer goes (pins live on the memo)",
        sql={d: ["DROP TABLE IF EXISTS memo_organizer"] for d in ALL},
    ),
    Step("0.26.3", "HOST becomes ADMIN", run=_host_to_admin, dialects=frozenset({"postgresql", "mysql"})),
    Step(
        "0.26.3",
        "indexes upstream no longer keeps",
        sql={"sqlite": ["DROP INDEX IF EXISTS idx_user_username", "DROP INDEX IF EXISTS idx_memo_creator_id"]},
        dialects=frozenset({"sqlite"}),
    ),
    Step(
        "0.26.4",
        "user.role loses its CHECK (SQLite rebuilds the table for that)",
        sql={
            "sqlite": [
                "ALTER TABLE user RENAME TO user_before_0_26",
                """CREATE TABLE user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_ts BIGINT NOT NULL DEFAULT (strftime('%s', 'now')),
  updated_ts BIGINT NOT NULL DEFAULT (strftime('%s', 'now')),
  row_status TEXT NOT NULL CHECK (row_status IN ('NORMAL', 'ARCHIVED')) DEFAULT 'NORMAL',
  username TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL DEFAULT 'USER',
  email TEXT NOT NULL DEFAULT '',
  nickname TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  avatar_url TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT ''
)""",
                "INSERT INTO user (id, created_ts, updated_ts, row_status, username, role, email, nickname,"
                " password_hash, avatar_url, description) SELECT id, created_ts, updated_ts, row_status, username,"
                " role, email, nickname, password_hash, avatar_url, description FROM user_before_0_26",
                "DROP TABLE user_before_0_26",
            ]
        },
        dialects=frozenset({"sqlite"}),
    ),
    Step("0.26.5", "HOST becomes ADMIN", run=_host_to_admin, dialects=frozenset({"sqlite"})),
    Step(
        "0.27.1", "an instance without a storage setting keeps storing in the database", run=_default_storage_database
    ),
    Step(
        "0.27.2",
        "identity providers get a uid (the id in 8 hex digits)",
        sql={
            "sqlite": [
                "ALTER TABLE idp ADD COLUMN uid TEXT NOT NULL DEFAULT ''",
                "UPDATE idp SET uid = printf('%08x', id) WHERE uid = ''",
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_idp_uid ON idp (uid)",
            ],
            "postgresql": [
                "ALTER TABLE idp ADD COLUMN uid TEXT NOT NULL DEFAULT ''",
                "UPDATE idp SET uid = lpad(to_hex(id), 8, '0') WHERE uid = ''",
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_idp_uid ON idp (uid)",
            ],
            "mysql": [
                "ALTER TABLE `idp` ADD COLUMN `uid` VARCHAR(256) NOT NULL DEFAULT ''",
                "UPDATE `idp` SET `uid` = LOWER(LPAD(HEX(`id`), 8, '0')) WHERE `uid` = ''",
                "ALTER TABLE `idp` ADD UNIQUE INDEX `idx_idp_uid` (`uid`)",
            ],
        },
    ),
    Step("0.27.3", "inbox messages carry their memo ids", run=_inbox_without_activities),
    Step("0.27.4", "the activity table goes", sql={d: ["DROP TABLE IF EXISTS activity"] for d in ALL}),
    Step("0.27.5", "memo share links", create_tables=("memo_share",)),
    Step("0.28.1", "linked external identities", create_tables=("user_identity",)),
)


def pending(dialect: str, current: tuple[int, ...]) -> list[Step]:
    """The steps a ``dialect`` database at version ``current`` still needs, in order."""
    from . import parse_version

    return [s for s in STEPS if dialect in s.dialects and parse_version(s.version) > current]


__all__ = ["STEPS", "Step", "pending"]
