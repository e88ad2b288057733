"""Access and refresh JWTs and personal access tokens, in the formats upstream issues.

PyJWT is imported at the first token issued or checked: it loads ``cryptography`` (several MiB)
for algorithms memos never uses, so the idle server does without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import string
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

from ..errors import unauthenticated

ISSUER = "memos"
KEY_ID = "v1"
ACCESS_AUDIENCE = "user.access-token"
REFRESH_AUDIENCE = "user.refresh-token"
ACCESS_TTL = 15 * 60
REFRESH_TTL = 30 * 24 * 3600
PAT_PREFIX = "memos_pat_"
_PAT_ALPHABET = string.digits + string.ascii_letters


@contextlib.contextmanager
def _weak_key_allowed(secret: str) -> Iterator[None]:
    """Silence PyJWT's InsecureKeyLengthWarning (an error under ``-W error``) for a key shorter than
    HS256's 32 bytes. The one such key is demo mode's ``usememos``, upstream's public constant: weak
    on purpose, announced at start-up, and must not break every sign-in. Instance secrets are UUIDs."""
    if len(secret.encode()) >= 32:
        yield
        return
    import jwt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        yield


def issue_access_token(
    secret: str, *, user_id: int, username: str, role: str, status: str, session_id: str = ""
) -> tuple[str, int]:
    """Return ``(jwt, expires_at)``. ``session_id`` (claim ``sid``, which upstream does not send) is the
    ``tid`` of the refresh token issued with it: it tells which session a request comes from."""
    now = int(time.time())
    exp = now + ACCESS_TTL
    claims = {
        "type": "access",
        "role": role,
        "status": status,
        "username": username,
        "iss": ISSUER,
        "aud": [ACCESS_AUDIENCE],
        "sub": str(user_id),
        "iat": now,
        "exp": exp,
    }
    if session_id:
        claims["sid"] = session_id
    import jwt

    with _weak_key_allowed(secret):
        return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": KEY_ID}), exp


def issue_refresh_token(secret: str, *, user_id: int, token_id: str | None = None) -> tuple[str, str, int]:
    """Return ``(jwt, token_id, expires_at)``."""
    now = int(time.time())
    tid = token_id or str(uuid.uuid4())
    exp = now + REFRESH_TTL
    claims = {
        "type": "refresh",
        "tid": tid,
        "iss": ISSUER,
        "aud": [REFRESH_AUDIENCE],
        "sub": str(user_id),
        "iat": now,
        "exp": exp,
    }
    import jwt

    with _weak_key_allowed(secret):
        return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": KEY_ID}), tid, exp


def verify(secret: str, token: str, *, kind: str) -> dict[str, Any]:
    """Check signature, alg, kid, issuer, audience, expiry and type; raise UNAUTHENTICATED otherwise."""
    import jwt

    audience = ACCESS_AUDIENCE if kind == "access" else REFRESH_AUDIENCE
    try:
        header = jwt.get_unverified_header(token)
        if header.get("kid") != KEY_ID:
            raise jwt.InvalidTokenError("unexpected kid")
        with _weak_key_allowed(secret):
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=audience,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
    except jwt.ExpiredSignatureError:
        raise unauthenticated("token expired") from None
    except jwt.InvalidTokenError:
        raise unauthenticated("invalid token") from None
    if claims.get("type") != kind:
        raise unauthenticated("invalid token type")
    try:
        claims["user_id"] = int(claims["sub"])
    except (TypeError, ValueError):
        raise unauthenticated("invalid token subject") from None
    return claims


def new_personal_access_token() -> str:
    return PAT_PREFIX + "".join(secrets.choice(_PAT_ALPHABET) for _ in range(32))


def hash_personal_access_token(token: str) -> str:
    """Lowercase hex SHA-256 of the whole token, prefix included (what Memos stores)."""
    return hashlib.sha256(token.encode()).hexdigest()
