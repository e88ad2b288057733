"""One SMTP delivery with aiosmtplib, and what its failure means for a retry.

Transport security follows the NOTIFICATION setting as upstream's mailer reads it, a little safer:

* ``useSsl``: implicit TLS from the first byte (port 465 usually).
* otherwise STARTTLS whenever the server offers it; with ``useTls`` it is required (a server that
  does not offer it is an error rather than a silent plain-text session).
* Certificates are verified against the system's CAs, plus the bundle in ``MEMOS_EMAIL_CA_FILE``
  when set (a private CA).
* A username or password means AUTH (PLAIN or LOGIN, whichever the server offers, as aiosmtplib
  picks), and only over TLS unless the server is on this machine: a password never crosses a
  network in clear.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
from email.message import EmailMessage
from typing import Any

#: Replies that mean the configuration, not the message, is wrong: an admin can fix them, so the
#: outbox keeps retrying instead of dropping every mail at once (530 auth required, 534/535/538 auth).
CONFIGURATION_REPLIES = frozenset({530, 534, 535, 538})


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    """The ``email`` object of the NOTIFICATION instance setting, password included."""

    enabled: bool = False
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    from_email: str = ""
    from_name: str = ""
    reply_to: str = ""
    use_tls: bool = False
    use_ssl: bool = False

    @classmethod
    def from_setting(cls, email: dict[str, Any]) -> SmtpSettings:
        return cls(
            enabled=bool(email.get("enabled")),
            host=str(email.get("smtpHost") or "").strip(),
            port=int(email.get("smtpPort") or 0),
            username=str(email.get("smtpUsername") or ""),
            password=str(email.get("smtpPassword") or ""),
            from_email=str(email.get("fromEmail") or "").strip(),
            from_name=str(email.get("fromName") or "").strip(),
            reply_to=str(email.get("replyTo") or "").strip(),
            use_tls=bool(email.get("useTls")),
            use_ssl=bool(email.get("useSsl")),
        )

    def problem(self) -> str:
        """Why mail cannot be sent with these settings ("" when it can be tried)."""
        if not self.host:
            return "the SMTP host is not set"
        if not 1 <= self.port <= 65535:
            return "the SMTP port must be between 1 and 65535"
        if not self.from_email or "@" not in self.from_email:
            return "the sender address (fromEmail) is not set"
        return ""


class SendError(Exception):
    """A delivery failed. ``temporary`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, temporary: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.code = code


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def _is_local(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def send(settings: SmtpSettings, message: EmailMessage, *, timeout: float, ca_file: str = "") -> str:
    """Deliver ``message``; the server's final reply (``"250 2.0.0 Ok: queued as …"``) or :class:`SendError`."""
    problem = settings.problem()
    if problem:
        raise SendError(problem, temporary=True)
    import aiosmtplib  # here, not with the plugin: most instances never send mail

    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        use_tls=settings.use_ssl,
        start_tls=False if settings.use_ssl else (True if settings.use_tls else None),
        tls_context=tls_context(ca_file),
        timeout=timeout,
    )
    try:
        await client.connect()
        try:
            encrypted = client.get_transport_info("sslcontext") is not None
            if settings.username or settings.password:
                if not encrypted and not _is_local(settings.host):
                    raise SendError(
                        f"{settings.host} offers no TLS: refusing to send the SMTP password in clear "
                        "(turn on useSsl or use a server with STARTTLS)",
                        temporary=True,
                    )
                await client.login(settings.username, settings.password)
            _errors, reply = await client.send_message(message)
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()
    except SendError:
        raise
    except aiosmtplib.SMTPRecipientsRefused as e:
        codes = [r.code for r in e.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in e.recipients)
        raise SendError(
            f"the SMTP server refused the recipient ({text})",
            temporary=all(400 <= c < 500 for c in codes),
            code=codes[0] if codes else None,
        ) from None
    except aiosmtplib.SMTPResponseException as e:
        temporary = 400 <= e.code < 500 or e.code in CONFIGURATION_REPLIES
        raise SendError(f"the SMTP server answered {e.code} {e.message}", temporary=temporary, code=e.code) from None
    except (aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise SendError(
            f"{settings.host}:{settings.port} did not answer within {timeout:g} s", temporary=True
        ) from None
    except aiosmtplib.SMTPNotSupported as e:
        raise SendError(f"the SMTP server does not support it: {e}", temporary=True) from None
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as e:
        raise SendError(f"cannot deliver through {settings.host}:{settings.port}: {e}", temporary=True) from None
    return f"250 {reply}".strip()  # aiosmtplib hands back the text of the 250 that accepted the data
