"""memos-email: notification mail, password-reset mail and a test message, driven by the NOTIFICATION setting.

* **Notifications.** When someone comments on your memo or mentions you (the inbox notices the core
  writes), you get a mail, if you have an email address and have not turned notification mail off
  (the ``NOTIFICATION`` user setting). Mails go through a durable outbox in the database
  (:mod:`memos_email.outbox`): claimed by one instance at a time, retried with backoff, given up
  after a day with the reason kept, resumed after a restart.
* **Password recovery.** The plugin is the core's delivery channel for "forgot password" links
  (``memos_password_reset_sender``) while email is enabled.
* **Test message.** ``POST /api/v1/email:sendTest`` (admins) sends one message at once with the
  saved or the submitted settings and answers with the server's reply or the exact error; the
  settings page gets a "Test email" section doing the same.

Operational settings are environment variables ``MEMOS_EMAIL_*`` (:class:`memos_email.worker.Tunables`);
see this package's README.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from memos_core import (
    CONTEXT,
    ApiError,
    Code,
    User,
    authenticate,
    candidate_instance_setting,
    context_of,
    error_response,
    events,
    hookimpl,
    instance_setting,
    jsonbody,
    metrics,
    viewer_of,
)

from . import compose, outbox
from .smtp import SendError, SmtpSettings, send
from .worker import Tunables, Worker, smtp_settings

__version__ = "0.1.0"
__all__ = ["EMAIL", "EmailState", "ResetChannel", "Tunables", "Worker", "send_trial"]

log = logging.getLogger("memos_email")

TEST_ROUTE = "/api/v1/email:sendTest"
WEB_TEST_ROUTE = "/setting/email-test"
SECTION_ID = "email-test"
#: Memo events after which new inbox notices may be waiting: the local worker looks at once.
WAKING_EVENTS = frozenset({events.MEMO_CREATED, events.MEMO_UPDATED, events.MEMO_COMMENT_CREATED})


@dataclasses.dataclass
class EmailState:
    """Set on the app while it is built (app state freezes at start-up); filled in when it starts."""

    tunables: Tunables
    worker: Worker | None = None


EMAIL = web.AppKey("memos_email", EmailState)


# -- lifetime ----------------------------------------------------------------------------------------
@hookimpl
def memos_cleanup_ctx(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    state = app[EMAIL] = EmailState(Tunables.from_env())
    metrics.gauge_at_scrape(
        app,
        "memos_email_outbox_pending",
        "Mails waiting in the outbox, shared by every instance on the database (read at scrape time).",
        lambda: _pending_mails(app),
    )

    async def email_ctx(app: web.Application) -> AsyncIterator[None]:
        ctx = app[CONTEXT]
        async with ctx.store.connection():
            await outbox.ensure_schema(ctx.store)
        if not ctx.serving:  # a command, not a server: the servers' workers send the mail
            yield
            return
        worker = Worker(ctx, state.tunables)
        worker.start()
        state.worker = worker
        try:
            yield
        finally:
            state.worker = None
            await worker.stop()

    return email_ctx


async def _pending_mails(app: web.Application) -> int:
    store = app[CONTEXT].store
    async with store.connection():
        return await outbox.pending_count(store)


def _wake(app: web.Application | None) -> None:
    state = app.get(EMAIL) if app is not None else None
    if state is not None and state.worker is not None:
        state.worker.wake()


@hookimpl
def memos_on_event(app: web.Application, event: Any) -> None:
    if event.name in WAKING_EVENTS and _may_have_made_notices(event):
        _wake(app)


def _may_have_made_notices(event: Any) -> bool:
    """A memo write leaves inbox notices only as a comment or through an ``@mention`` in its
    content: any other create or edit need not cost the worker a round (the poll still runs)."""
    if event.name == events.MEMO_COMMENT_CREATED:
        return True
    return "@" in str((event.resource or {}).get("content") or "")


# -- password recovery --------------------------------------------------------------------------------
class ResetChannel:
    """The core's "forgot password" delivery: a mail through the outbox, while email is enabled."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def ready(self) -> bool:
        settings = await smtp_settings(self.app[CONTEXT].store)
        return settings.enabled and not settings.problem()

    async def send(self, user: User, link: str, expires_at: int) -> None:
        ctx = self.app[CONTEXT]
        minutes = max(1, round((expires_at - time.time()) / 60))
        site = await _site_name(ctx)
        mail = compose.password_reset(username=user.username, link=link, minutes=minutes, site=site)
        await outbox.add(
            ctx.store,
            kind="password_reset",
            recipient=user.email,
            mail=mail,
            now_ms=int(time.time() * 1000),
            user_id=user.id,
        )
        _wake(self.app)


@hookimpl
def memos_password_reset_sender(app: web.Application) -> ResetChannel:
    return ResetChannel(app)


async def _site_name(ctx: Any) -> str:
    general = await instance_setting(ctx.store, "GENERAL")
    title = ((general.get("customProfile") or {}).get("title") or "").strip()
    return title or ctx.config.instance_url.removeprefix("https://").removeprefix("http://") or "Memos"


# -- the test message ---------------------------------------------------------------------------------
def _recipient(value: Any, fallback: str) -> str:
    recipient = (value if isinstance(value, str) else "").strip() or fallback
    if not recipient or "@" not in recipient or any(c in recipient for c in "\r\n<>,;") or len(recipient) > 320:
        raise ApiError(Code.INVALID_ARGUMENT, "a recipient email address is required (yours is not set)")
    return recipient


async def send_trial(app: web.Application, admin: User, recipient: str, email: dict[str, Any] | None) -> str:
    """Send the test message now (no outbox) with the saved settings, or with ``email`` (the
    NOTIFICATION setting's ``email`` object, validated as a save would be, saved secrets kept where it
    leaves them empty). The server's reply, or :class:`ApiError` carrying the exact error."""
    ctx = app[CONTEXT]
    if email is None:
        settings = await smtp_settings(ctx.store)
    else:
        value = await candidate_instance_setting(ctx.store, "NOTIFICATION", {"email": email})
        settings = SmtpSettings.from_setting(value["email"])
    problem = settings.problem()
    if problem:
        raise ApiError(Code.FAILED_PRECONDITION, f"cannot send: {problem}")
    mail = compose.trial_message(site=await _site_name(ctx), admin=admin.username)
    message = compose.message(mail, to=recipient, settings=settings, message_key=f"trial:{time.time_ns()}")
    tunables = app[EMAIL].tunables
    try:
        return await send(settings, message, timeout=tunables.timeout, ca_file=tunables.ca_file)
    except SendError as e:
        raise ApiError(Code.FAILED_PRECONDITION, str(e)) from None


async def send_test_email(request: web.Request) -> web.Response:
    """``POST /api/v1/email:sendTest`` ``{"recipient"?, "email"?}`` (admins) -> ``{"recipient", "reply"}``."""
    try:
        viewer = await authenticate(request)
        if not viewer.is_admin:
            raise ApiError(Code.PERMISSION_DENIED, "only admins may send a test email")
        body = await jsonbody.read_object(request)
        email = body.get("email")
        if email is not None and not isinstance(email, dict):
            raise ApiError(Code.INVALID_ARGUMENT, "email must be an object (the NOTIFICATION setting's email)")
        recipient = _recipient(body.get("recipient"), viewer.user.email)
        async with context_of(request).store.connection():
            reply = await send_trial(request.app, viewer.user, recipient, email)
    except ApiError as e:
        return _error(e)
    return web.json_response({"recipient": recipient, "reply": reply})


def _error(e: ApiError) -> web.Response:
    return error_response(e.code, e.message, e.headers)


# -- the settings page's "Test email" section ------------------------------------------------------------
async def web_send_test_email(request: web.Request) -> web.StreamResponse:
    viewer = viewer_of(request)
    if viewer is None or not viewer.is_admin:
        raise web.HTTPForbidden(text="only admins may send a test email")
    form = await request.post()
    try:
        recipient = _recipient(form.get("recipient"), viewer.user.email)
        reply = await send_trial(request.app, viewer.user, recipient, None)
        result = {"email_test": "sent", "email_test_detail": f"{recipient}: {reply}"}
    except ApiError as e:
        result = {"email_test": "failed", "email_test_detail": e.message}
    raise web.HTTPSeeOther(f"/setting?{urlencode(result)}#{SECTION_ID}")


@hookimpl
def memos_register_routes(app: web.Application) -> None:
    app.router.add_post(TEST_ROUTE, send_test_email, name="email.send_test")
    # A ``web.*`` name: memos-web resolves the viewer from the session and checks the CSRF token.
    app.router.add_post(WEB_TEST_ROUTE, web_send_test_email, name="web.email_test")


@hookimpl
def memos_web_settings_sections(request: web.Request, csrf_token: str) -> list[dict[str, Any]] | None:
    viewer = viewer_of(request)
    if viewer is None or not viewer.is_admin:
        return None
    outcome = request.query.get("email_test", "")
    detail = request.query.get("email_test_detail", "")
    status = Markup("")
    if outcome == "sent":
        status = Markup('<p class="notice" role="status">Sent. The server answered: {}</p>').format(detail)
    elif outcome == "failed":
        status = Markup('<p class="error" role="alert">Not sent: {}</p>').format(detail)
    html = Markup(
        '{}<p class="muted hint">Sends one message now with the settings saved under Notifications '
        "(save them first), and shows the mail server's answer.</p>"
        '<form method="post" action="{}"><input type="hidden" name="csrf_token" value="{}">'
        '<label>Recipient <input type="email" name="recipient" value="{}" autocomplete="email"></label> '
        '<button type="submit">Send test email</button></form>'
    ).format(status, WEB_TEST_ROUTE, csrf_token, viewer.user.email)
    return [{"id": SECTION_ID, "title": "Test email", "html": html, "admin": True}]
