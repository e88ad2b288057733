"""The outbox: every mail is a row before it is a delivery, so nothing is lost and nothing is sent twice.

* **Durable.** Notification mails are made from the core's ``inbox`` rows, which commit together
  with the comment or mention that caused them; a feeder turns each new inbox row into exactly one
  outbox row (``inbox_id`` is unique, so feeders racing on several instances insert it once).
  Password-reset mails are inserted by the reset channel before the request is answered.
* **Claimed.** A sender takes a batch of due rows by writing its lease (owner and expiry) on them in
  one ``UPDATE`` whose ``WHERE`` re-checks that no live lease exists, then reads back what it owns:
  of two instances, exactly one gets each row. A lease that runs out (a sender died mid-send) frees
  the row for another attempt, so a mail is sent at least once; only a crash between the server's
  "250" and the write of ``sent`` can repeat one, and the repeat carries the same Message-ID.
* **Retried, then given up.** Temporary failures set ``next_attempt_ms`` with exponential backoff;
  a mail still pending after the give-up time is ``failed`` with the last reason kept.

Tables (schema version 1, created through ``memos_core.ensure_plugin_schema``, named ``memos_py_*``
like every table memos-py adds beside the Memos schema): ``memos_py_email_outbox`` and
``memos_py_email_cursor`` (the feeder's floor: inbox ids at or below it were produced while email
was off and are never mailed).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from memos_core import ensure_plugin_schema, tables

from .compose import Mail

PLUGIN = "email"
SCHEMA_VERSION = 1

metadata = sa.MetaData()
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid

outbox = sa.Table(
    "memos_py_email_outbox",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),  # comment, mention, password_reset
    sa.Column("inbox_id", sa.BigInteger, nullable=True),  # the notice it announces (notifications only)
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, sent, failed, skipped
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("reply", sa.Text, nullable=True),  # the server's answer to the accepted mail
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("finished_ms", sa.BigInteger, nullable=True),
    sa.Index("memos_py_email_idx_outbox_inbox", "inbox_id", unique=True),
    sa.Index("memos_py_email_idx_outbox_due", "status", "next_attempt_ms"),
    sa.Index("memos_py_email_idx_outbox_finished", "finished_ms"),
)

cursor = sa.Table(
    "memos_py_email_cursor",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
INBOX_FLOOR = "inbox_floor"
PRUNE_BATCH = 500


async def ensure_schema(store: Any) -> None:
    await ensure_plugin_schema(store, PLUGIN, SCHEMA_VERSION, metadata)


def _insert_ignoring_duplicates(store: Any, table: sa.Table) -> Any:
    insert = store.driver.insert(table)
    return insert.prefix_with("IGNORE") if store.driver.name == "mysql" else insert.on_conflict_do_nothing()


async def add(
    store: Any,
    *,
    kind: str,
    recipient: str,
    mail: Mail,
    now_ms: int,
    user_id: int | None = None,
    inbox_id: int | None = None,
    status: str = PENDING,
    reason: str | None = None,
) -> None:
    """Queue one mail (or record, as ``skipped`` with ``reason``, a notice that gets none). A second
    row for the same ``inbox_id`` is silently not inserted."""
    values = {
        "kind": kind,
        "inbox_id": inbox_id,
        "user_id": user_id,
        "recipient": recipient,
        "subject": mail.subject,
        "body_text": mail.text,
        "body_html": mail.html,
        "status": status,
        "attempts": 0,
        "next_attempt_ms": now_ms,
        "last_error": reason,
        "created_ms": now_ms,
        "finished_ms": None if status == PENDING else now_ms,
    }
    async with store.transaction():
        await store.execute(_insert_ignoring_duplicates(store, outbox).values(**values))


# -- the feeder's floor -----------------------------------------------------------------------------
async def inbox_floor(store: Any) -> int:
    value = await store.fetch_val(sa.select(cursor.c.value).where(cursor.c.name == INBOX_FLOOR))
    return int(value or 0)


async def raise_inbox_floor(store: Any) -> None:
    """Email is off: every notice so far stays unmailed, even once it is turned on."""
    top = int(await store.fetch_val(sa.select(sa.func.max(tables.inbox.c.id))) or 0)
    if top <= await inbox_floor(store):
        return
    async with store.transaction():
        await store.execute(store.driver.upsert(cursor, {"name": INBOX_FLOOR, "value": top}, ["name"], ["value"]))


async def unfed_notices(store: Any, *, floor: int, since_s: int, limit: int) -> list[Any]:
    """Inbox rows above the floor, created since ``since_s``, with no outbox row yet (oldest first)."""
    ib = tables.inbox
    q = (
        sa.select(ib.c.id, ib.c.sender_id, ib.c.receiver_id, ib.c.message, ib.c.created_ts)
        .select_from(ib.outerjoin(outbox, outbox.c.inbox_id == ib.c.id))
        .where(outbox.c.id.is_(None), ib.c.id > floor, ib.c.created_ts >= since_s)
        .order_by(ib.c.id)
        .limit(limit)
    )
    return list(await store.fetch_all(q))


# -- claiming and settling --------------------------------------------------------------------------
def _free(now_ms: int) -> Any:
    return sa.or_(outbox.c.lease_until_ms.is_(None), outbox.c.lease_until_ms < now_ms)


async def claim(store: Any, *, owner: str, now_ms: int, lease_ms: int, batch: int) -> list[Any]:
    """Lease up to ``batch`` due mails to ``owner`` and return them (rows another sender holds are skipped)."""
    due = sa.and_(outbox.c.status == PENDING, outbox.c.next_attempt_ms <= now_ms, _free(now_ms))
    candidates = sa.select(outbox.c.id).where(due).order_by(outbox.c.id).limit(batch)
    async with store.transaction():
        ids = [r["id"] for r in await store.fetch_all(candidates)]
        if not ids:
            return []
        # The WHERE is evaluated again on the locked rows: a lease another sender wrote first wins.
        await store.execute(
            sa.update(outbox)
            .where(outbox.c.id.in_(ids), due)
            .values(lease_owner=owner, lease_until_ms=now_ms + lease_ms)
        )
    mine = sa.select(outbox).where(
        outbox.c.id.in_(ids), outbox.c.lease_owner == owner, outbox.c.lease_until_ms == now_ms + lease_ms
    )
    return list(await store.fetch_all(mine.order_by(outbox.c.id)))


async def _settle(store: Any, row_id: int, owner: str, **values: Any) -> None:
    async with store.transaction():
        await store.execute(
            sa.update(outbox)
            .where(outbox.c.id == row_id, outbox.c.lease_owner == owner)
            .values(lease_owner=None, lease_until_ms=None, **values)
        )


async def mark_sent(store: Any, row: Any, owner: str, *, reply: str, now_ms: int) -> None:
    await _settle(
        store, row["id"], owner, status=SENT, reply=reply[:1000], attempts=row["attempts"] + 1, finished_ms=now_ms
    )


async def mark_retry(store: Any, row: Any, owner: str, *, error: str, next_attempt_ms: int) -> None:
    await _settle(
        store, row["id"], owner, attempts=row["attempts"] + 1, last_error=error[:2000], next_attempt_ms=next_attempt_ms
    )


async def mark_failed(store: Any, row: Any, owner: str, *, error: str, now_ms: int, attempted: bool = True) -> None:
    await _settle(
        store,
        row["id"],
        owner,
        status=FAILED,
        attempts=row["attempts"] + (1 if attempted else 0),
        last_error=error[:2000],
        finished_ms=now_ms,
    )


async def give_up_stale(store: Any, *, created_before_ms: int, now_ms: int, reason: str) -> None:
    """Fail pending mails older than the give-up time that nobody holds (say why, keeping the last error)."""
    stale = sa.and_(outbox.c.status == PENDING, outbox.c.created_ms < created_before_ms, _free(now_ms))
    last = sa.func.coalesce(outbox.c.last_error, "")
    async with store.transaction():
        await store.execute(
            sa.update(outbox)
            .where(stale)
            .values(status=FAILED, finished_ms=now_ms, last_error=sa.func.trim(sa.literal(reason + " ") + last))
        )


async def prune(store: Any, *, finished_before_ms: int) -> None:
    """Delete a bounded batch of settled rows older than the retention time."""
    old = sa.select(outbox.c.id).where(outbox.c.finished_ms < finished_before_ms).limit(PRUNE_BATCH)
    if store.driver.name == "mysql":  # MySQL refuses LIMIT inside IN (subquery): nest it once more
        old = sa.select(old.subquery().c.id)
    async with store.transaction():
        await store.execute(sa.delete(outbox).where(outbox.c.id.in_(old)))


async def pending_count(store: Any) -> int:
    """Mails still to send (the status index answers it without reading the table)."""
    return int(await store.fetch_val(sa.select(sa.func.count()).where(outbox.c.status == PENDING)) or 0)
