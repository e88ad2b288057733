"""Password hashing with bcrypt (upstream uses Go's ``bcrypt.DefaultCost``, 10).

Hashing and verifying run in a worker thread: a cost-10 bcrypt takes tens of milliseconds of CPU,
which would otherwise stall every request on the event loop.
"""

from __future__ import annotations

import asyncio
import functools

import bcrypt

from ..errors import invalid

BCRYPT_COST = 10
#: bcrypt only looks at 72 bytes; upstream (Go) refuses longer passwords instead of truncating.
MAX_PASSWORD_BYTES = 72


def check_password(password: object) -> str:
    """A password acceptable for storing; 400 otherwise."""
    if not isinstance(password, str) or not password:
        raise invalid("password is required")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise invalid(f"password must be at most {MAX_PASSWORD_BYTES} bytes")
    return password


async def hash_password(password: str, *, rounds: int = BCRYPT_COST) -> str:
    """bcrypt hash of a password already accepted by :func:`check_password`."""
    pw = check_password(password).encode()
    return await asyncio.to_thread(lambda: bcrypt.hashpw(pw, bcrypt.gensalt(rounds)).decode())


def _verify(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # not a bcrypt hash (e.g. an SSO placeholder row)
        return False


async def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed``; a too-long password never matches."""
    pw = password.encode()
    if len(pw) > MAX_PASSWORD_BYTES or not hashed:
        # Still pay for one bcrypt so the answer's timing does not reveal why it failed.
        await burn_verification()
        return False
    return await asyncio.to_thread(_verify, pw, hashed.encode())


@functools.cache
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(b"memos-dummy-password", bcrypt.gensalt(BCRYPT_COST))


async def burn_verification() -> None:
    """Spend what a real verification costs (for unknown usernames: no user-enumeration by timing)."""
    await asyncio.to_thread(lambda: _verify(b"not-the-password", _dummy_hash()))
