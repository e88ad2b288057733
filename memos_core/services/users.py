"""Users and user settings: who may see or change what.

Every access rule for users lives here; handlers only parse and serialise.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any

from .. import events
from ..auth.passwords import check_password, hash_password
from ..context import Context, Event
from ..errors import already_exists, denied, invalid, not_found, unauthenticated
from ..store import settings as settings_store
from ..store import users as users_store
from ..store.users import ARCHIVED, NORMAL, ROLE_ADMIN, ROLE_USER, User
from ..wire import UID_RE, enum_value, format_time, required_mask, snake
from . import access, auth, instance

ROLES = {2: ROLE_ADMIN, 3: ROLE_USER}
STATES = {1: NORMAL, 2: ARCHIVED}
#: UpdateUser mask paths -> ``user`` columns.
UPDATE_PATHS = {
    "username": "username",
    "display_name": "nickname",
    "email": "email",
    "avatar_url": "avatar_url",
    "description": "description",
    "role": "role",
    "password": "password_hash",
    "state": "row_status",
}
#: Output-only or identifying User fields a client may echo back; never update paths.
_READ_ONLY_FIELDS = {"name", "create_time", "update_time", "update_mask"}
AVATAR_TYPES = ("png", "jpeg", "jpg", "gif", "webp")
_AVATAR_RE = re.compile(r"^data:image/([a-z]+);base64,(.*)$", re.DOTALL)
MAX_BATCH = 100
SETTING_KEYS = ("GENERAL", "WEBHOOKS")
#: memos-py's own user setting (docs/api-extensions.md): served by Get/UpdateUserSetting but left out
#: of ListUserSettings, whose answer upstream's clients decode strictly. Stored under a key of its own
#: so upstream Memos, opening the database, never meets an unknown field in a row it decodes.
NOTIFICATION_KEY = "NOTIFICATION"
NOTIFICATION_STORE_KEY = "MEMOS_PY_NOTIFICATION"
NOTIFICATION_DEFAULT = {"emailNotifications": True}
GENERAL_DEFAULT = {"locale": "en", "memoVisibility": "PRIVATE", "theme": ""}
_GENERAL_PATHS = {"locale": "locale", "memo_visibility": "memoVisibility", "theme": "theme"}
_FILTER_RE = re.compile(r"""^\s*username\s*==\s*(?:"([^"\\]*)"|'([^'\\]*)')\s*$""")


# -- serialising ------------------------------------------------------------------------------------
def _role_name(user: User) -> str:
    if user.is_admin:
        return "ADMIN"
    return "USER" if user.role == "USER" else "ROLE_UNSPECIFIED"


def user_to_json(user: User, viewer: Any) -> dict[str, Any]:
    """A user as the API shows it to ``viewer`` (a Principal, a User or ``None``).

    ``email`` only for the user themself or an admin; a stored ``data:`` avatar becomes the URL of
    the avatar route; ``password`` is always empty.
    """
    show_email = viewer is not None and (viewer.id == user.id or viewer.is_admin)
    avatar = user.avatar_url or ""
    if avatar.startswith("data:"):
        avatar = f"/file/users/{user.username}/avatar"
    return {
        "name": user.name,
        "role": _role_name(user),
        "username": user.username,
        "email": user.email if show_email else "",
        "displayName": user.nickname,
        "avatarUrl": avatar,
        "description": user.description,
        "password": "",
        "state": user.row_status if user.row_status in ("NORMAL", "ARCHIVED") else "STATE_UNSPECIFIED",
        "createTime": format_time(user.created_ts),
        "updateTime": format_time(user.updated_ts),
    }


# -- validation -------------------------------------------------------------------------------------
def check_username(value: Any) -> str:
    """A username that may be written: the UID rule, and not all digits."""
    if not isinstance(value, str) or not UID_RE.fullmatch(value) or value.isdigit():
        raise invalid(f"invalid username: {value!r}")
    return value


def check_avatar(value: Any) -> str:
    """Empty, or a base64 ``data:image/<png|jpeg|jpg|gif|webp>`` URI."""
    if value == "":
        return value
    m = _AVATAR_RE.match(value) if isinstance(value, str) else None
    if m is None or m.group(1) not in AVATAR_TYPES:
        raise invalid("invalid avatar: expected a data:image/(png|jpeg|gif|webp);base64 URI")
    try:
        base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("invalid avatar: bad base64 data") from None
    return value


def _string(body: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if key in body and body[key] is not None:
            if not isinstance(body[key], str):
                raise invalid(f"{keys[0]} must be a string")
            return body[key]
    return ""


def _require_viewer(viewer: Any) -> Any:
    if viewer is None:
        raise unauthenticated("user not authenticated")
    return viewer


# -- reads ------------------------------------------------------------------------------------------
async def get_user(ctx: Context, username: str) -> User:
    """The user named ``username`` (exact match), or NOT_FOUND."""
    user = await users_store.get_user(ctx.store, username=username) if username else None
    if user is None or user.username != username:
        raise not_found(f"user not found: {username}")
    return user


async def list_users(ctx: Context, viewer: Any, filter_expr: str | None) -> list[User]:
    """Every user, archived included, newest first (admins only)."""
    if not _require_viewer(viewer).is_admin:
        raise denied("only admins may list users")
    username = None
    if filter_expr:
        m = _FILTER_RE.match(filter_expr)
        if m is None:
            raise invalid(f'unsupported filter {filter_expr!r}: only username == "name" is supported')
        username = m.group(1) if m.group(1) is not None else m.group(2)
    return await users_store.list_users(ctx.store, username=username)


async def batch_get_users(ctx: Context, usernames: Any) -> list[User]:
    """NORMAL users among ``usernames`` (trimmed, blanks skipped, deduplicated), in request order."""
    if usernames is None:
        usernames = []
    if not isinstance(usernames, list) or not all(isinstance(u, str) for u in usernames):
        raise invalid("usernames must be a list of strings")
    wanted = list(dict.fromkeys(u.strip() for u in usernames if u.strip()))
    if len(wanted) > MAX_BATCH:
        raise invalid(f"at most {MAX_BATCH} usernames per request")
    found = await users_store.get_users_by_usernames(ctx.store, wanted)
    return [found[u] for u in wanted if u in found and found[u].row_status == NORMAL]


# -- create -----------------------------------------------------------------------------------------
async def create_user(ctx: Context, viewer: Any, body: dict[str, Any], *, validate_only: bool = False) -> User:
    """Sign-up (anonymous) or user creation by an admin.

    The first user ever becomes ADMIN. That decision and the insert share one transaction that
    holds the instance-settings row lock, so two racing sign-ups cannot both see an empty table.
    """
    username = check_username(body.get("username"))
    password = check_password(body.get("password"))
    values = {
        "email": _string(body, "email"),
        "nickname": _string(body, "displayName", "display_name"),
        "avatar_url": check_avatar(_string(body, "avatarUrl", "avatar_url")),
        "description": _string(body, "description"),
    }
    admin_caller = viewer is not None and viewer.is_admin
    requested_role = enum_value(body.get("role"), ROLES, "role", default=ROLE_USER)
    store = ctx.store

    async def decide_role() -> str:
        if admin_caller:
            return requested_role
        if await users_store.count_users(store) == 0:
            return ROLE_ADMIN
        general = await instance.general(store)
        if general["disallowUserRegistration"]:
            raise denied("user registration is not allowed")
        if general["disallowPasswordAuth"]:
            raise denied("password sign-up is not allowed")
        return ROLE_USER

    # Cheap checks first: a refused sign-up should not cost a bcrypt hash.
    role = await decide_role()
    if await users_store.username_taken(store, username):
        raise already_exists(f"username {username!r} is already taken")
    now = int(time.time())
    if validate_only:
        return User(0, username, role, NORMAL, password_hash="", created_ts=now, updated_ts=now, **values)
    password_hash = await hash_password(password)
    async with store.transaction():
        if not admin_caller:
            await settings_store.lock_instance_settings(store)
        role = await decide_role()
        if await users_store.username_taken(store, username):
            raise already_exists(f"username {username!r} is already taken")
        try:
            user = await users_store.create_user(
                store,
                username=username,
                role=role,
                row_status=NORMAL,
                password_hash=password_hash,
                created_ts=now,
                updated_ts=now,
                **values,
            )
        except Exception as e:
            if store.is_unique_violation(e):
                raise already_exists(f"username {username!r} is already taken") from None
            raise
    actor = viewer.user if viewer is not None else user
    await ctx.emit(Event(events.USER_CREATED, user_to_json(user, actor), actor=actor))
    return user


# -- update -----------------------------------------------------------------------------------------
async def update_user(ctx: Context, viewer: Any, username: str, body: dict[str, Any], mask: list[str] | None) -> User:
    """Apply the masked fields of ``body`` to a user (self or admin; role/state admin only)."""
    viewer = _require_viewer(viewer)
    user = await get_user(ctx, username)
    access.check_self_or_admin(viewer, user)
    is_self = viewer.id == user.id
    paths = list(dict.fromkeys(required_mask(mask, body, _READ_ONLY_FIELDS)))
    for path in paths:
        if path not in UPDATE_PATHS:
            raise invalid(f"invalid update path: {path}")

    store = ctx.store
    general = await instance.general(store) if {"username", "display_name"} & set(paths) else {}
    changes: dict[str, Any] = {}
    for path in paths:
        if path == "username":
            if general["disallowChangeUsername"]:
                raise denied("changing the username is not allowed")
            changes["username"] = check_username(body.get("username"))
        elif path == "display_name":
            if general["disallowChangeNickname"]:
                raise denied("changing the display name is not allowed")
            changes["nickname"] = _string(body, "displayName", "display_name")
        elif path == "email":
            changes["email"] = _string(body, "email")
        elif path == "description":
            changes["description"] = _string(body, "description")
        elif path == "avatar_url":
            changes["avatar_url"] = check_avatar(_string(body, "avatarUrl", "avatar_url"))
        elif path == "role":
            if not viewer.is_admin:
                raise denied("only admins may change roles")
            if is_self:
                raise denied("you cannot change your own role")
            role = enum_value(body.get("role"), ROLES, "role")
            if role is None:
                raise invalid("role is required")
            changes["role"] = role
        elif path == "state":
            if not viewer.is_admin:
                raise denied("only admins may change the state of a user")
            changes["row_status"] = enum_value(body.get("state"), STATES, "state", default=NORMAL)
        elif path == "password":
            changes["password_hash"] = check_password(body.get("password"))
    if "password_hash" in changes:
        changes["password_hash"] = await hash_password(changes["password_hash"])
    changes["updated_ts"] = int(time.time())

    async with store.transaction():
        new_name = changes.get("username")
        if new_name is not None and await users_store.username_taken(store, new_name, exclude_id=user.id):
            raise already_exists(f"username {new_name!r} is already taken")
        try:
            await users_store.update_user(store, user.id, **changes)
        except Exception as e:
            if store.is_unique_violation(e):
                raise already_exists(f"username {new_name!r} is already taken") from None
            raise
        keep = sessions_surviving(viewer, user, changes)
        if keep is not None:
            await auth.revoke_sessions(ctx, user.id, keep=keep)
        updated = await users_store.get_user(store, id=user.id)
    assert updated is not None
    return updated


def sessions_surviving(viewer: Any, user: User, changes: dict[str, Any]) -> tuple[str, ...] | None:
    """Which sign-in sessions (refresh-token ids) of ``user`` outlive an update: ``None`` if the update
    ends none, else the ids kept (often none). The update and the revocation commit together.

    - Users changing their own password end every other session. The session kept is the caller's
      own, known from what the request carries (``viewer.session_ids``): the session its access
      token was issued with (the token's ``sid`` claim; after that session's refresh token has
      rotated, an older access token names a session that no longer exists, so nothing is kept for
      it) and the session of the refresh cookie sent along, if it is the same user's. A change made
      with nothing that names a session (a personal access token, a plugin's credential, an access
      token without ``sid``, such as one upstream issued) keeps none: the caller cannot be told
      apart from whoever else holds a session, and a session kept by mistake could be the very one
      the password change is meant to shut out. The caller signs in again with the new password.
    - An admin setting another user's password, archiving a user or changing their role ends all
      of that user's sessions. (Deleting a user deletes their sessions with their other settings.)
    - Personal access tokens are never touched here: they are revoked one by one or with the user.
    """
    if changes.get("row_status") == ARCHIVED or changes.get("role", user.role) != user.role:
        return ()
    if "password_hash" in changes:
        return tuple(getattr(viewer, "session_ids", ())) if viewer.id == user.id else ()
    return None


# -- delete -----------------------------------------------------------------------------------------
async def delete_user(ctx: Context, viewer: Any, username: str) -> User:
    """Delete a user and all their data in one transaction (self or admin, as upstream allows).

    Their settings go with them, sign-in sessions and personal access tokens included, so every
    credential of theirs stops working on every instance at the commit.

    After the commit, ``memos.user.deleted`` is emitted with ``extra["attachments"]`` (the deleted
    attachment rows) so storage plugins can remove files and objects.
    """
    viewer = _require_viewer(viewer)
    user = await get_user(ctx, username)
    access.check_self_or_admin(viewer, user)
    snapshot = user_to_json(user, viewer)
    async with ctx.store.transaction():
        attachments = await users_store.delete_user_cascade(ctx.store, user.id)
    actor = viewer.user if viewer.id != user.id else None
    await ctx.emit(Event(events.USER_DELETED, snapshot, actor=actor, extra={"attachments": attachments}))
    return user


# -- settings ---------------------------------------------------------------------------------------
def check_setting_key(key: str) -> str:
    if key not in SETTING_KEYS and key != NOTIFICATION_KEY:
        raise invalid(f"invalid user setting key: {key!r}")
    return key


async def _settings_owner(ctx: Context, viewer: Any, username: str) -> User:
    """User settings are readable and writable by their owner only (admins included in the refusal)."""
    viewer = _require_viewer(viewer)
    user = await get_user(ctx, username)
    if viewer.id != user.id:
        raise denied("permission denied")
    return user


def _stored_key(key: str) -> str:
    return NOTIFICATION_STORE_KEY if key == NOTIFICATION_KEY else key


def _setting_value(key: str, stored: dict[str, Any] | None) -> dict[str, Any]:
    if key == NOTIFICATION_KEY:
        value = (stored or {}).get("emailNotifications")
        return {"emailNotifications": value if isinstance(value, bool) else True}
    if key == "GENERAL":
        if stored is None:
            return dict(GENERAL_DEFAULT)
        return {k: stored.get(k) if isinstance(stored.get(k), str) else "" for k in GENERAL_DEFAULT}
    hooks = (stored or {}).get("webhooks")
    return {"webhooks": [h for h in hooks if isinstance(h, dict)] if isinstance(hooks, list) else []}


async def get_user_setting(ctx: Context, viewer: Any, username: str, key: str) -> tuple[User, dict[str, Any]]:
    """``(owner, value)`` of the setting; GENERAL with defaults, WEBHOOKS as stored."""
    check_setting_key(key)
    user = await _settings_owner(ctx, viewer, username)
    return user, _setting_value(key, await settings_store.get_user_setting(ctx.store, user.id, _stored_key(key)))


async def wants_email(store: Any, user_id: int) -> bool:
    """Whether ``user_id`` still takes notification mail (their NOTIFICATION setting; on by default)."""
    stored = await settings_store.get_user_setting(store, user_id, NOTIFICATION_STORE_KEY)
    return _setting_value(NOTIFICATION_KEY, stored)["emailNotifications"]


async def list_user_settings(ctx: Context, viewer: Any, username: str) -> tuple[User, list[tuple[str, dict]]]:
    """Both API-visible settings (upstream also leaks internal rows as junk entries; not here)."""
    user = await _settings_owner(ctx, viewer, username)
    stored = dict(await settings_store.list_user_settings(ctx.store, user.id))
    return user, [(key, _setting_value(key, stored.get(key))) for key in SETTING_KEYS]


def _setting_update(body: dict[str, Any], field: str, mask: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    """The setting object ``field`` (camelCase or snake_case) of an update body and its mask paths,
    without the field's prefix; the body's own fields are the mask when none is given."""
    prefix = snake(field)
    incoming = body.get(field, body.get(prefix))
    if incoming is None:
        incoming = {}
    if not isinstance(incoming, dict):
        raise invalid(f"{field} must be an object")
    if mask is None:
        mask = [snake(k) for k in incoming]
    if not mask:
        raise invalid("update mask is required")
    return incoming, [path.removeprefix(prefix + ".") for path in mask]


async def update_user_setting(
    ctx: Context, viewer: Any, username: str, key: str, body: dict[str, Any], mask: list[str] | None
) -> tuple[User, dict[str, Any]]:
    """Update GENERAL fields named by the mask (bare or ``general_setting.``-prefixed; others ignored),
    or memos-py's NOTIFICATION setting."""
    check_setting_key(key)
    user = await _settings_owner(ctx, viewer, username)
    if key == NOTIFICATION_KEY:
        return user, await _update_notification(ctx, user, body, mask)
    if key != "GENERAL":
        raise invalid(f"the {key} setting cannot be updated here")
    incoming, mask = _setting_update(body, "generalSetting", mask)
    fields = {}
    for path in mask:
        if path in _GENERAL_PATHS:
            field = _GENERAL_PATHS[path]
            fields[field] = _string(incoming, field, path)
    store = ctx.store
    async with store.transaction():
        current = _setting_value(key, await settings_store.get_user_setting_for_update(store, user.id, key))
        current.update(fields)
        await settings_store.set_user_setting(store, user.id, key, {k: v for k, v in current.items() if v})
    return user, current


async def _update_notification(
    ctx: Context, user: User, body: dict[str, Any], mask: list[str] | None
) -> dict[str, Any]:
    incoming, mask = _setting_update(body, "notificationSetting", mask)
    fields: dict[str, Any] = {}
    for path in mask:
        if path != "email_notifications":
            raise invalid(f"invalid update mask path for the NOTIFICATION setting: {path!r}")
        value = incoming.get("emailNotifications", incoming.get("email_notifications", True))
        if not isinstance(value, bool):
            raise invalid("notificationSetting.emailNotifications must be a boolean")
        fields["emailNotifications"] = value
    store = ctx.store
    async with store.transaction():
        stored = await settings_store.get_user_setting_for_update(store, user.id, NOTIFICATION_STORE_KEY)
        current = _setting_value(NOTIFICATION_KEY, stored)
        current.update(fields)
        # Only the departure from the default is stored, as protojson leaves defaults out.
        value = {} if current["emailNotifications"] else {"emailNotifications": False}
        await settings_store.set_user_setting(store, user.id, NOTIFICATION_STORE_KEY, value)
    return current
