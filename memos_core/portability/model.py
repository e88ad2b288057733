"""The neutral form every import source is read into before anything is written."""

from __future__ import annotations

import dataclasses


class ImportRefused(ValueError):
    """The archive or source cannot be imported (unsafe, malformed or too large); nothing was written.
    The message says why, in words a user can act on."""


@dataclasses.dataclass
class ImportedAttachment:
    filename: str
    type: str  # MIME type ("" when unknown: the writer guesses from the name and bytes)
    data: bytes
    uid: str = ""  # a uid to keep when free (a memos-py export's own), else the writer makes one


@dataclasses.dataclass
class ImportedReaction:
    reaction_type: str  # the emoji
    creator: str = ""  # username in the source ("" = the importing user)


@dataclasses.dataclass
class ImportedMemo:
    """One memo as a source holds it.

    ``key`` identifies it within its source, stably across runs (a memos-py uid, a file path, a Keep
    note's file name, a remote server's memo name): importing the same source twice must not
    duplicate memos, and the writer dedupes by ``(source kind, key)``. ``comments`` are memos whose
    parent is this one. ``references`` are keys of other memos of the same import this one refers to.
    Times are Unix seconds; ``None`` lets the writer use the current time.
    """

    key: str
    content: str
    create_time: int | None = None
    update_time: int | None = None
    visibility: str = "PRIVATE"  # PRIVATE, PROTECTED or PUBLIC
    pinned: bool = False
    archived: bool = False
    tags: list[str] = dataclasses.field(default_factory=list)  # tags the content does not already carry
    location: dict | None = None  # {"placeholder", "latitude", "longitude"} as the API has it
    attachments: list[ImportedAttachment] = dataclasses.field(default_factory=list)
    reactions: list[ImportedReaction] = dataclasses.field(default_factory=list)
    comments: list[ImportedMemo] = dataclasses.field(default_factory=list)
    references: list[str] = dataclasses.field(default_factory=list)
    uid: str = ""  # a uid to keep when free (a memos-py export's own), else the writer makes one
