"""The mail worker each app instance runs: feed the outbox from the inbox, then send what is due.

It wakes every ``poll_interval`` seconds, and at once when this instance committed something that
may need mail (a memo event, a reset request). Every step is safe with other instances doing the
same on the same database (see :mod:`memos_email.outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import socket
import time
import uuid
from typing import Any

import sqlalchemy as sa

from memos_core import ApiError, Principal, User, get_memo, get_user, instance_setting, tables, wants_email

from . import compose, outbox
from .smtp import SendError, SmtpSettings, send

log = logging.getLogger("memos_email")

KINDS = {"MEMO_COMMENT": ("comment", "memoComment"), "MEMO_MENTION": ("mention", "memoMention")}


@dataclasses.dataclass(frozen=True)
class Tunables:
    """Operational limits (environment ``MEMOS_EMAIL_*``, read when the app is built)."""

    poll_interval: float = 10.0  # seconds between outbox checks when nothing wakes the worker
    timeout: float = 30.0  # one SMTP conversation
    retry_base: float = 30.0  # first retry after this many seconds, doubling per attempt ...
    retry_max: float = 1800.0  # ... up to this
    give_up_after: float = 86400.0  # a mail not delivered by then is failed
    keep_for: float = 30 * 86400.0  # settled rows are deleted after this
    batch: int = 20  # mails claimed at once
    ca_file: str = ""  # an extra CA bundle to trust (a private mail server's CA)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Tunables:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(f"MEMOS_EMAIL_{field.name.upper()}", "").strip()
            if not raw:
                continue
            if field.type == "str":
                values[field.name] = raw
                continue
            try:
                number = int(raw) if field.type == "int" else float(raw)
            except ValueError:
                raise ValueError(f"MEMOS_EMAIL_{field.name.upper()} must be a number, not {raw!r}") from None
            if number <= 0:
                raise ValueError(f"MEMOS_EMAIL_{field.name.upper()} must be positive")
            values[field.name] = number
        return cls(**values)

    @property
    def lease_ms(self) -> int:
        """Long enough for a batch of conversations that each run into the timeout."""
        return int((self.timeout * (self.batch + 1) + 30) * 1000)

    def backoff(self, attempts: int) -> float:
        delay = min(self.retry_max, self.retry_base * 2 ** max(0, attempts - 1))
        return delay * random.uniform(0.9, 1.1)


async def smtp_settings(store: Any) -> SmtpSettings:
    return SmtpSettings.from_setting((await instance_setting(store, "NOTIFICATION"))["email"])


class Worker:
    def __init__(self, ctx: Any, tunables: Tunables) -> None:
        self.ctx = ctx
        self.tunables = tunables
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._next_tidy = 0.0  # monotonic time of the next clean-up round

    # -- lifetime ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="memos-email")

    async def stop(self) -> None:
        """Let the round in progress finish (a cancelled database transaction could be left open),
        waiting at most one SMTP timeout and a little more; cancel only past that."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.tunables.timeout + 5)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        with self.ctx.store.background():  # this task's statements are not a request's
            await self._rounds()

    async def _rounds(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the mail worker failed; trying again in %g s", self.tunables.poll_interval)
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tunables.poll_interval)
            self._wake.clear()

    async def run_once(self) -> None:
        """Feed, send everything due, tidy up. Serialised within the instance.

        Statements take a pooled connection each (none is held while an SMTP server talks)."""
        async with self._lock:
            settings = await smtp_settings(self.ctx.store)
            if not settings.enabled:
                await outbox.raise_inbox_floor(self.ctx.store)
            else:
                await self.feed()
                while await self.send_due(settings):
                    pass
            # Giving up and pruning are two write transactions: worth it every few minutes, not
            # every poll (a give-up time of a day is not missed by minutes).
            if time.monotonic() >= self._next_tidy:
                await self._tidy(settings)
                self._next_tidy = time.monotonic() + min(300.0, self.tunables.give_up_after / 4)

    # -- feeding -------------------------------------------------------------------------------
    async def feed(self) -> int:
        """Turn new inbox notices into outbox rows; returns how many were looked at."""
        store = self.ctx.store
        now = time.time()
        floor = await outbox.inbox_floor(store)
        since = int(now - self.tunables.give_up_after)
        notices = await outbox.unfed_notices(store, floor=floor, since_s=since, limit=100)
        for notice in notices:
            try:
                await self._feed_one(notice)
            except Exception:
                log.exception("inbox notice %s could not be turned into mail", notice["id"])
        return len(notices)

    async def _feed_one(self, notice: Any) -> None:
        store = self.ctx.store
        now_ms = int(time.time() * 1000)
        receiver = await get_user(store, id=notice["receiver_id"])
        sender = await get_user(store, id=notice["sender_id"])
        try:
            message = json.loads(notice["message"] or "{}")
        except ValueError:
            message = {}
        kind, field = KINDS.get(message.get("type"), ("", ""))
        ids = message.get(field) if isinstance(message.get(field), dict) else {}

        async def skip(reason: str) -> None:
            await outbox.add(
                store,
                kind=kind or "notice",
                recipient=(receiver.email if receiver else "") or "",
                mail=compose.Mail("", "", ""),
                now_ms=now_ms,
                user_id=notice["receiver_id"],
                inbox_id=notice["id"],
                status=outbox.SKIPPED,
                reason=reason,
            )

        if not kind:
            return await skip("not a notice that gets mail")
        if receiver is None or sender is None or receiver.is_archived:
            return await skip("the sender or the receiver is gone or archived")
        if not receiver.email:
            return await skip("the receiver has no email address")
        if not await wants_email(store, receiver.id):
            return await skip("the receiver turned notification mail off")
        memo = await self._memo_for(receiver, ids.get("memoId"))
        if memo is None:
            return await skip("the memo is gone or the receiver may not see it")
        parent = await self._memo_for(receiver, ids.get("relatedMemoId"))
        base = self.ctx.config.instance_url.rstrip("/")
        target = parent if kind == "comment" and parent is not None else memo
        mail = compose.notification(
            kind=kind,
            sender=sender.nickname or sender.username,
            snippet=memo.get("snippet") or memo.get("content", "")[:200],
            parent_snippet=(parent.get("snippet") or "") if parent else "",
            link=f"{base}/{target['name']}" if base else "",
            settings_link=f"{base}/setting#preferences" if base else "",
        )
        await outbox.add(
            store,
            kind=kind,
            recipient=receiver.email,
            mail=mail,
            now_ms=now_ms,
            user_id=receiver.id,
            inbox_id=notice["id"],
        )

    async def _memo_for(self, viewer: User, memo_id: Any) -> dict[str, Any] | None:
        """The memo with numeric ``memo_id`` as the API shows it to ``viewer``, or ``None`` if they may not see it."""
        try:
            memo_id = int(memo_id)
        except (TypeError, ValueError):
            return None
        uid = await self.ctx.store.fetch_val(sa.select(tables.memo.c.uid).where(tables.memo.c.id == memo_id))
        if uid is None:
            return None
        try:
            return await get_memo(self.ctx, Principal(viewer, "email"), uid)
        except ApiError:
            return None

    # -- sending -------------------------------------------------------------------------------
    async def send_due(self, settings: SmtpSettings) -> int:
        """Claim a batch of due mails and try each once; returns how many were claimed."""
        store = self.ctx.store
        t = self.tunables
        rows = await outbox.claim(
            store, owner=self.owner, now_ms=int(time.time() * 1000), lease_ms=t.lease_ms, batch=t.batch
        )
        for row in rows:
            message = compose.message(
                compose.Mail(row["subject"], row["body_text"], row["body_html"]),
                to=row["recipient"],
                settings=settings,
                message_key=f"{self.ctx.secret[:8]}:{row['id']}:{row['created_ms']}",
                created=row["created_ms"] / 1000,
            )
            try:
                reply = await send(settings, message, timeout=t.timeout, ca_file=t.ca_file)
            except SendError as e:
                now_ms = int(time.time() * 1000)
                expired = now_ms - row["created_ms"] >= t.give_up_after * 1000
                if e.temporary and not expired:
                    retry_at = now_ms + int(t.backoff(row["attempts"] + 1) * 1000)
                    log.warning("mail %s to %s: %s; retrying", row["id"], row["recipient"], e)
                    await outbox.mark_retry(store, row, self.owner, error=str(e), next_attempt_ms=retry_at)
                else:
                    why = str(e) if not e.temporary else f"gave up after {row['attempts'] + 1} attempts: {e}"
                    log.warning("mail %s to %s failed: %s", row["id"], row["recipient"], why)
                    await outbox.mark_failed(store, row, self.owner, error=why, now_ms=now_ms)
                continue
            await outbox.mark_sent(store, row, self.owner, reply=reply, now_ms=int(time.time() * 1000))
            log.info("mail %s (%s) to %s: %s", row["id"], row["kind"], row["recipient"], reply)
        return len(rows)

    async def _tidy(self, settings: SmtpSettings) -> None:
        store = self.ctx.store
        now_ms = int(time.time() * 1000)
        reason = "gave up: email is disabled;" if not settings.enabled else "gave up: not delivered in time;"
        await outbox.give_up_stale(
            store,
            created_before_ms=now_ms - int(self.tunables.give_up_after * 1000),
            now_ms=now_ms,
            reason=reason,
        )
        await outbox.prune(store, finished_before_ms=now_ms - int(self.tunables.keep_for * 1000))
