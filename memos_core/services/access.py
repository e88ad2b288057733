"""Memo visibility and ownership rules, the one place they are decided.

Every route that reaches memo data asks this module: single memos through the ``check_*``
functions, lists through the SQL clauses (so the database filters, never Python). Admins get no
visibility bypass for reading (upstream's rule); they may modify and moderate any memo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import denied, not_found, unauthenticated
from ..store import tables

if TYPE_CHECKING:
    from ..auth import Principal

PUBLIC = "PUBLIC"
PROTECTED = "PROTECTED"
PRIVATE = "PRIVATE"
NORMAL = "NORMAL"
ARCHIVED = "ARCHIVED"


def _owner(viewer: Principal | None, memo: Any) -> bool:
    return viewer is not None and viewer.id == memo.creator_id


def _admin(viewer: Principal | None) -> bool:
    return viewer is not None and viewer.is_admin


def check_admin(viewer: Principal | None) -> None:
    """Instance-wide administration: anonymous callers get 401, other users 403."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if not viewer.is_admin:
        raise denied("permission denied")


# -- SQL restrictions for lists ------------------------------------------------------------------
def visible_clause(viewer: Principal | None, table: sa.Table | Any = tables.memo) -> Any:
    """Rows of ``table`` (the memo table or an alias) the viewer may read, by visibility alone."""
    if viewer is None:
        return table.c.visibility == PUBLIC
    return sa.or_(table.c.creator_id == viewer.id, table.c.visibility.in_([PUBLIC, PROTECTED]))


def list_clause(viewer: Principal | None, state: str) -> Any:
    """ListMemos: NORMAL lists what the viewer may read; ARCHIVED lists only the viewer's own."""
    if state == ARCHIVED:
        if viewer is None:
            return sa.false()
        return tables.memo.c.creator_id == viewer.id
    return visible_clause(viewer)


# -- single memos ----------------------------------------------------------------------------------
def check_read(viewer: Principal | None, memo: Any) -> None:
    """GetMemo: archived memos exist only for their creator; then PUBLIC / signed-in / owner."""
    if memo is None:
        raise not_found("memo not found")
    owner = _owner(viewer, memo)
    if memo.row_status == ARCHIVED and not owner:
        raise not_found("memo not found")
    if memo.visibility == PUBLIC or owner:
        return
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if memo.visibility == PRIVATE:
        raise denied("permission denied")


def check_read_attached(viewer: Principal | None, memo: Any) -> None:
    """ListMemoReactions / ListMemoAttachments: like GetMemo, but admins may look at anything."""
    if memo is None:
        raise not_found("memo not found")
    if _admin(viewer):
        return
    check_read(viewer, memo)


def check_interact(viewer: Principal | None, memo: Any) -> None:
    """UpsertMemoReaction / CreateMemoComment: a signed-in caller who may read the memo, or an admin."""
    if memo is None:
        raise not_found("memo not found")
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if _admin(viewer) or _owner(viewer, memo):
        return
    check_read(viewer, memo)


def check_write(viewer: Principal | None, memo: Any) -> None:
    """Update, delete, set attachments/relations, shares: the creator or an admin."""
    if memo is None:
        raise not_found("memo not found")
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if not (_owner(viewer, memo) or _admin(viewer)):
        raise denied("permission denied")


def may_write(viewer: Principal | None, creator_username: str) -> bool:
    """Whether :func:`check_write` would let ``viewer`` change a memo of ``creator_username``: what
    a page uses to decide which controls to show (the write itself is still checked)."""
    return viewer is not None and (viewer.is_admin or viewer.user.username == creator_username)


def check_reaction_owner(viewer: Principal | None, reaction: Any) -> None:
    """DeleteMemoReaction: the reaction's creator or an admin."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if viewer.id != reaction.creator_id and not viewer.is_admin:
        raise denied("permission denied")


# -- attachments -----------------------------------------------------------------
def check_attachment_read(viewer: Principal | None, attachment: Any, memo: Any | None, *, shared: bool = False) -> None:
    """GetAttachment and the file server: an unlinked attachment is its creator's (or an admin's);
    a linked one follows its memo's visibility (archived state not checked). ``shared`` says the
    caller presented a valid share token of that very memo."""
    if attachment is None:
        raise not_found("attachment not found")
    if memo is None:
        if viewer is None:
            raise unauthenticated("user not authenticated")
        if viewer.id != attachment["creator_id"] and not viewer.is_admin:
            raise denied("permission denied")
        return
    if memo.visibility == PUBLIC or shared:
        return
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if memo.visibility == PRIVATE and not (_owner(viewer, memo) or _admin(viewer)):
        raise denied("permission denied")


def check_attachment_write(viewer: Principal | None, attachment: Any) -> None:
    """UpdateAttachment, BatchDeleteAttachments: the creator or an admin."""
    if attachment is None:
        raise not_found("attachment not found")
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if viewer.id != attachment["creator_id"] and not viewer.is_admin:
        raise denied("permission denied")


def check_attachment_delete(viewer: Principal | None, attachment: Any) -> None:
    """DeleteAttachment: the creator only; to anyone else (admins too) it does not exist."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if attachment is None or viewer.id != attachment["creator_id"]:
        raise not_found("attachment not found")


def check_attachment_link(viewer: Principal, attachment: Any) -> None:
    """SetMemoAttachments / CreateMemo / UpdateMemo: callers link their own attachments; admins any.
    (Upstream does not check ownership at all, which lets anyone move someone else's file.)"""
    if viewer.id != attachment["creator_id"] and not viewer.is_admin:
        raise denied(f"permission denied for attachments/{attachment['uid']}")


def check_attachment_memo(viewer: Principal, memo: Any) -> None:
    """CreateAttachment with ``memo``: it must exist and be the caller's, unless the caller is an admin."""
    if memo is None:
        raise not_found("memo not found")
    if not (_owner(viewer, memo) or _admin(viewer)):
        raise denied("permission denied")


# -- user-owned resources ---------------------------------------------------------------------------
def check_self_or_admin(viewer: Principal | None, user: Any) -> None:
    """Resources a user owns that admins may manage too (webhooks): 401 anonymous, 403 anyone else."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if viewer.id != user.id and not viewer.is_admin:
        raise denied("permission denied")
