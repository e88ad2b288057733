"""Authentication: who is calling (a :class:`Principal`), and the route access list."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from ..store.users import User


@dataclasses.dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``method`` is how they authenticated: ``"access_token"`` (a session JWT), ``"pat"`` (personal
    access token) or a plugin's own name. ``token_id`` identifies the credential where it has one.
    ``session_ids`` are the refresh-token ids (``tid``) of the user's sign-in sessions the request
    shows it holds: the session its access token was issued with, and the session of a refresh
    cookie of the same user sent along. A password change keeps these and ends the others.
    """

    user: User
    method: str
    token_id: str = ""
    session_ids: tuple[str, ...] = ()
    #: When the credential stops being valid by itself (epoch seconds; 0: not by time).
    expires_at: float = 0

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin


PRINCIPAL = web.RequestKey("memos_principal", Principal)

__all__ = ["PRINCIPAL", "Principal"]
