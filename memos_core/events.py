"""The events catalogue: every event the core emits through ``memos_on_event``, by name.

Each name is a webhook activity type of upstream Memos, and the :class:`memos_core.Event` that
carries it has a fixed shape: ``resource`` (the API JSON of what changed, as its actor saw it),
``actor`` (the :class:`memos_core.User` who caused it, or ``None``) and ``extra`` (keys listed
below per event). Compare ``event.name`` with these constants rather than with string literals::

    from memos_core import events, hookimpl

    @hookimpl
    def memos_on_event(app, event):
        if event.name == events.MEMO_CREATED and not event.extra.get("parent"):
            ...  # a new memo that is not a comment

Plugins may emit events of their own; give them a prefix of your own (``myplugin.thing.done``),
never ``memos.``, which is the core's. docs/events.md describes every event with an example.
"""

from __future__ import annotations

import dataclasses

#: A memo was created (comments too: then ``extra["parent"]`` names the parent memo).
MEMO_CREATED = "memos.memo.created"
#: A memo was changed: its fields, its relations or its attachments.
MEMO_UPDATED = "memos.memo.updated"
#: A memo was deleted, with its comments (only the memo asked for is announced).
MEMO_DELETED = "memos.memo.deleted"
#: A comment was created under a memo (after the comment's own :data:`MEMO_CREATED`).
MEMO_COMMENT_CREATED = "memos.memo.comment.created"
#: A reaction was added to a memo, or an existing identical one was returned.
REACTION_UPSERTED = "memos.reaction.upserted"
#: A reaction was removed from a memo.
REACTION_DELETED = "memos.reaction.deleted"
#: A user account was created (sign-up, by an admin, or at a first single sign-on).
USER_CREATED = "memos.user.created"
#: A user account was deleted, with all its data.
USER_DELETED = "memos.user.deleted"


@dataclasses.dataclass(frozen=True)
class EventSpec:
    """What an event of the catalogue carries (docs/events.md says the same at length)."""

    name: str
    #: What ``event.resource`` is.
    resource: str
    #: Who ``event.actor`` is.
    actor: str
    #: Every key ``event.extra`` may hold, with what it holds; a key may be absent (see each).
    extra: dict[str, str] = dataclasses.field(default_factory=dict)


#: Every event the core emits, by name.
CATALOGUE: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec(
            MEMO_CREATED,
            "the new memo's API JSON",
            "its creator",
            {"parent": 'for a comment only: the parent memo\'s name ("memos/<uid>")'},
        ),
        EventSpec(
            MEMO_UPDATED,
            "the memo's API JSON after the change",
            "the user who changed it",
            {"parent": "for a comment only: the parent memo's name"},
        ),
        EventSpec(MEMO_DELETED, "the memo's API JSON before deletion", "the user who deleted it"),
        EventSpec(
            MEMO_COMMENT_CREATED,
            "the comment's API JSON (a memo)",
            "the commenter",
            {"parent": "the parent memo's API JSON"},
        ),
        EventSpec(
            REACTION_UPSERTED,
            "the reaction's API JSON",
            "the user who reacted",
            {"memo": 'the memo\'s name ("memos/<uid>")'},
        ),
        EventSpec(
            REACTION_DELETED,
            "the deleted reaction's API JSON",
            "the user who removed it",
            {"memo": "the memo's name"},
        ),
        EventSpec(USER_CREATED, "the new user's API JSON", "the admin who created it, or the new user"),
        EventSpec(
            USER_DELETED,
            "the user's API JSON before deletion",
            "the admin who deleted it, or None when users delete themselves",
            {"attachments": "the deleted attachment rows (column values), for storage to remove their bytes"},
        ),
    )
}

__all__ = [
    "CATALOGUE",
    "MEMO_COMMENT_CREATED",
    "MEMO_CREATED",
    "MEMO_DELETED",
    "MEMO_UPDATED",
    "REACTION_DELETED",
    "REACTION_UPSERTED",
    "USER_CREATED",
    "USER_DELETED",
    "EventSpec",
]
