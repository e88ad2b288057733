"""pytest plugin for memos-py and its plugin authors (entry point ``pytest11: memos``).

Fixtures:

* ``memos_config``: a :class:`~memos_core.Config` on a fresh SQLite file in ``tmp_path``.
* ``memos_extra_plugins``: override to register throwaway plugin objects for a test.
* ``memos_app`` / ``memos_client``: the application and an aiohttp test client for it.
* ``memos_users``: a factory, ``await memos_users("alice", role="ADMIN")``, that creates a user
  straight in the store and returns a :class:`TestUser` with a ready ``Authorization`` header.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import bcrypt
import pytest

from .auth import tokens
from .config import Config
from .context import CONTEXT
from .store import users as users_store


@dataclasses.dataclass
class TestUser:
    __test__ = False  # not a test class

    id: int
    username: str
    role: str
    password: str
    token: str

    @property
    def name(self) -> str:
        return f"users/{self.username}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def hash_password(password: str, *, rounds: int = 4) -> str:
    """bcrypt at a low cost: fast fixtures, still verifiable by the real sign-in code."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@pytest.fixture
def memos_config(tmp_path) -> Config:
    return Config(data=str(tmp_path), driver="sqlite")


@pytest.fixture
def memos_extra_plugins() -> list[Any]:
    return []


@pytest.fixture
def memos_app(memos_config, memos_extra_plugins):
    from .app import create_app

    return create_app(memos_config, extra_plugins=memos_extra_plugins)


@pytest.fixture
async def memos_client(aiohttp_client, memos_app):
    return await aiohttp_client(memos_app)


@pytest.fixture
def memos_users(memos_client):
    """Factory creating users directly in the store, with an access token each."""
    ctx = memos_client.app[CONTEXT]

    async def make(username: str, *, role: str = "USER", password: str | None = None, **columns: Any) -> TestUser:
        password = password or f"{username}-password"
        now = int(time.time())
        async with ctx.store.connection():
            user = await users_store.create_user(
                ctx.store,
                username=username,
                role=role,
                row_status=columns.pop("row_status", "NORMAL"),
                email=columns.pop("email", f"{username}@example.com"),
                nickname=columns.pop("nickname", username.title()),
                password_hash=hash_password(password),
                avatar_url="",
                description="",
                created_ts=columns.pop("created_ts", now),
                updated_ts=columns.pop("updated_ts", now),
            )
        token, _ = tokens.issue_access_token(
            ctx.secret, user_id=user.id, username=user.username, role=user.role, status=user.row_status
        )
        return TestUser(id=user.id, username=user.username, role=user.role, password=password, token=token)

    return make
