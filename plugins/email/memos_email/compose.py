"""The mails: notification, password reset and test messages, each with a plain-text and an HTML part.

Everything that comes from users (names, memo snippets) is escaped in the HTML part; links are built
on the instance URL only (``MEMOS_INSTANCE_URL``) and left out when it is not set.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import time
from email.headerregistry import Address
from email.message import EmailMessage
from html import escape

from .smtp import SmtpSettings


@dataclasses.dataclass(frozen=True)
class Mail:
    """What the outbox keeps of a mail: enough to build the same message on every attempt."""

    subject: str
    text: str
    html: str


def _html(paragraphs: list[str], link: str = "", link_label: str = "", footer: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    if link:
        body += f'<p><a href="{escape(link)}">{escape(link_label)}</a></p>'
    if footer:
        body += f'<hr><p style="color:#666;font-size:12px">{footer}</p>'
    return f'<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">{body}</body></html>'


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def notification(*, kind: str, sender: str, snippet: str, parent_snippet: str, link: str, settings_link: str) -> Mail:
    """A comment on the recipient's memo (``kind="comment"``) or a mention of them (``"mention"``).

    ``snippet`` is the new memo's snippet as the recipient may see it; ``parent_snippet`` the
    commented memo's (for a comment, the recipient's own memo), or "".
    """
    if kind == "comment":
        subject = f"{sender} commented on your memo"
        lead = f"{sender} commented on your memo:"
        context = f"Your memo: {parent_snippet}" if parent_snippet else ""
    else:
        subject = f"{sender} mentioned you"
        lead = f"{sender} mentioned you:"
        context = f"In reply to: {parent_snippet}" if parent_snippet else ""
    footer = "You get this mail because notification mail is on for your account."
    text = [lead, "", _quote(snippet), ""]
    if context:
        text += [context, ""]
    if link:
        text += [f"Open it: {link}", ""]
    text += ["-- ", footer]
    if settings_link:
        text.append(f"Turn it off under Settings > Preferences: {settings_link}")
    html_footer = escape(footer)
    if settings_link:
        html_footer += f' <a href="{escape(settings_link)}">Turn it off under Settings &gt; Preferences</a>.'
    paragraphs = [
        escape(lead),
        f'<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:12px">{escape(snippet)}</blockquote>',
    ]
    if context:
        paragraphs.append(escape(context))
    return Mail(subject, "\n".join(text) + "\n", _html(paragraphs, link, "Open the memo", html_footer))


def password_reset(*, username: str, link: str, minutes: int, site: str) -> Mail:
    subject = f"Reset your password on {site}"
    lines = [
        f"Someone (hopefully you) asked to reset the password of {username} on {site}.",
        f"This link sets a new one. It works once, for {minutes} minutes:",
        "",
        link,
        "",
        "If you did not ask for it, ignore this mail: your password stays as it is.",
    ]
    paragraphs = [
        escape(f"Someone (hopefully you) asked to reset the password of {username} on {site}."),
        escape(f"This link sets a new one. It works once, for {minutes} minutes."),
    ]
    footer = escape("If you did not ask for it, ignore this mail: your password stays as it is.")
    return Mail(subject, "\n".join(lines) + "\n", _html(paragraphs, link, "Choose a new password", footer))


def trial_message(*, site: str, admin: str) -> Mail:
    text = f"This is a test message from {site}, sent by {admin}. Mail from this server arrives.\n"
    return Mail(f"Test message from {site}", text, _html([escape(text.strip())]))


def message(
    mail: Mail, *, to: str, settings: SmtpSettings, message_key: str, created: float | None = None
) -> EmailMessage:
    """The MIME message for ``mail`` to ``to``. ``message_key`` makes the Message-ID: the same on
    every attempt, so a receiving server that saw an earlier attempt can drop a repeat."""
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = Address(display_name=settings.from_name, addr_spec=settings.from_email)
    msg["To"] = to
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Date"] = email.utils.formatdate(created if created is not None else time.time(), localtime=False)
    domain = settings.from_email.rsplit("@", 1)[-1] or "memos.invalid"
    digest = hashlib.sha256(message_key.encode()).hexdigest()[:24]
    msg["Message-ID"] = f"<memos.{digest}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a notification
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    return msg
