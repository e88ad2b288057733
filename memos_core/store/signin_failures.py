"""Failed sign-ins in the database, so every app process on it throttles against one shared budget.

One row per failure and counted key (a username, a client IP) in ``memos_py_signin_failure``
(:data:`memos_core.store.tables.signin_failure`). Each call is a constant number of statements,
all answered from an index:

* :func:`nth_latest` reads, per key, the time of its ``limit``-th latest failure inside the window,
  which exists exactly when the window holds ``limit`` failures or more (a COUNT that stops at the
  limit) and is also when the oldest of those leaves the window;
* :func:`record` inserts the failures in one statement, then deletes at most :data:`PRUNE_BATCH`
  rows that left the window, so the table stays about as large as one window of failures;
* :func:`forget` deletes a key's failures (a successful sign-in resets its username).

Times are epoch milliseconds from the caller's clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa

from .tables import signin_failure as t

#: Most expired rows one recorded failure deletes.
PRUNE_BATCH = 500


def subject(kind: str, value: str) -> str:
    """The stored key of ``value`` counted as ``kind`` (``"user"``, ``"ip"``): a fixed-length digest."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


async def nth_latest(store, checks: Iterable[tuple[str, int]], since_ms: int) -> list[int | None]:
    """For each ``(subject, n)``: the time of the ``n``-th latest failure after ``since_ms``, or ``None``
    when there are fewer than ``n``. One statement for all of them."""
    checks = list(checks)
    if not checks:
        return []
    columns = [
        sa.select(t.c.failed_at_ms)
        .where(t.c.subject == key, t.c.failed_at_ms > since_ms)
        .order_by(t.c.failed_at_ms.desc())
        .limit(1)
        .offset(n - 1)
        .scalar_subquery()
        .label(f"nth_{i}")
        for i, (key, n) in enumerate(checks)
    ]
    row = await store.fetch_one(sa.select(*columns))
    return [None if row[i] is None else int(row[i]) for i in range(len(checks))]


def _prune_statement(store, before_ms: int):
    if store.driver.name == "mysql":
        # MySQL and MariaDB refuse LIMIT in an IN subquery (and a subquery on the table being deleted
        # from), but bound a DELETE themselves; oldest first, so concurrent prunes lock in one order.
        return sa.text(
            f"DELETE FROM {t.name} WHERE failed_at_ms <= :before ORDER BY failed_at_ms LIMIT {PRUNE_BATCH}"
        ).bindparams(before=before_ms)
    oldest = sa.select(t.c.id).where(t.c.failed_at_ms <= before_ms).order_by(t.c.failed_at_ms).limit(PRUNE_BATCH)
    if store.driver.name == "postgresql":
        # Concurrent prunes skip each other's rows instead of waiting on (or deadlocking over) them.
        oldest = oldest.with_for_update(skip_locked=True)
    return sa.delete(t).where(t.c.id.in_(oldest))


async def record(store, subjects: Iterable[str], at_ms: int, *, prune_before_ms: int) -> None:
    """Record one failure at ``at_ms`` for each subject, then prune a bounded batch of rows at or
    before ``prune_before_ms``. Two statements, each its own short transaction."""
    rows = [{"subject": key, "failed_at_ms": at_ms} for key in subjects]
    if not rows:
        return
    async with store.transaction():
        await store.execute(sa.insert(t).values(rows))
    async with store.transaction():
        await store.execute(_prune_statement(store, prune_before_ms))


async def forget(store, key: str) -> None:
    """Delete every recorded failure of ``key``."""
    async with store.transaction():
        await store.execute(sa.delete(t).where(t.c.subject == key))


__all__ = ["PRUNE_BATCH", "forget", "nth_latest", "record", "subject"]
