"""Memo rows and what hangs off them: relations, reactions, linked attachments, shares, inbox rows.

Lists load their pages first and then every embedded collection with one query each
(``*_for`` functions), so the statement count of a request does not grow with its page size.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from . import search, tables
from .compiled import Template

m = tables.memo
u = tables.user
rel = tables.memo_relation
rx = tables.reaction
att = tables.attachment

REFERENCE = "REFERENCE"
COMMENT = "COMMENT"


@dataclasses.dataclass
class Memo:
    id: int
    uid: str
    creator_id: int
    creator: str  # username
    created_ts: int
    updated_ts: int
    row_status: str
    content: str
    visibility: str
    pinned: bool
    payload: dict[str, Any]

    @property
    def name(self) -> str:
        return f"memos/{self.uid}"

    @classmethod
    def from_row(cls, row: Any) -> Memo:
        return cls(
            id=row["id"],
            uid=row["uid"],
            creator_id=row["creator_id"],
            creator=row["creator"],
            created_ts=int(row["created_ts"] or 0),
            updated_ts=int(row["updated_ts"] or 0),
            row_status=row["row_status"],
            content=row["content"] or "",
            visibility=row["visibility"],
            pinned=bool(row["pinned"]),
            payload=loads(row["payload"]),
        )


@dataclasses.dataclass
class Relation:
    memo_id: int
    memo_uid: str
    memo_content: str
    related_memo_id: int
    related_uid: str
    related_content: str
    type: str


@dataclasses.dataclass
class Reaction:
    id: int
    creator_id: int
    creator: str  # username
    content_id: str
    reaction_type: str
    created_ts: int

    @classmethod
    def from_row(cls, row: Any) -> Reaction:
        return cls(
            id=row["id"],
            creator_id=row["creator_id"],
            creator=row["creator"],
            content_id=row["content_id"],
            reaction_type=row["reaction_type"],
            created_ts=int(row["created_ts"] or 0),
        )


def loads(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def dumps(payload: dict[str, Any]) -> str:
    """Payload JSON as upstream stores it; raw unicode so LIKE-based tag filters match text."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# -- memos -----------------------------------------------------------------------------------------
def select_memos() -> sa.Select:
    """Memo columns plus the creator's username; memos whose creator row is gone drop out."""
    return sa.select(*m.c, u.c.username.label("creator")).select_from(m.join(u, u.c.id == m.c.creator_id))


async def get_memo(store, *, uid: str | None = None, id: int | None = None) -> Memo | None:
    q = select_memos()
    if uid is not None:
        q = q.where(m.c.uid == uid)
    if id is not None:
        q = q.where(m.c.id == id)
    row = await store.fetch_one(q)
    return Memo.from_row(row) if row else None


async def ids_by_uids(store, uids: Iterable[str]) -> dict[str, int]:
    uids = sorted(set(uids))
    if not uids:
        return {}
    rows = await store.fetch_all(sa.select(m.c.uid, m.c.id).where(m.c.uid.in_(uids)))
    return {r["uid"]: r["id"] for r in rows}


def not_comment() -> Any:
    """Memos without an outgoing COMMENT relation (ListMemos never lists comments)."""
    return ~sa.exists().where(rel.c.memo_id == m.c.id, rel.c.type == COMMENT)


async def list_memos(store, where: Sequence[Any], order_by: Sequence[Any], limit: int, offset: int) -> list[Memo]:
    q = select_memos().where(*where).order_by(*order_by).limit(limit).offset(offset)
    return [Memo.from_row(r) for r in await store.fetch_all(q)]


def page_template(where: Sequence[Any], order_by: Sequence[Any]) -> Template:
    """:func:`list_memos`' statement as a :class:`Template` run with ``limit`` and ``offset`` (and
    whatever parameters ``where`` holds, such as a :class:`ViewerParam`'s ``viewer_id``)."""
    q = select_memos().where(*where).order_by(*order_by)
    return Template(q.limit(sa.bindparam("limit", type_=sa.Integer)).offset(sa.bindparam("offset", type_=sa.Integer)))


async def list_memos_page(store, template: Template, **values: Any) -> list[Memo]:
    return [Memo.from_row(r) for r in await store.fetch_all(template(**values))]


async def list_comments(store, parent_id: int, where: Sequence[Any], limit: int, offset: int) -> list[Memo]:
    """Comments of ``parent_id``, newest first."""
    q = (
        select_memos()
        .join(rel, sa.and_(rel.c.memo_id == m.c.id, rel.c.type == COMMENT))
        .where(rel.c.related_memo_id == parent_id, *where)
        .order_by(m.c.created_ts.desc(), m.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [Memo.from_row(r) for r in await store.fetch_all(q)]


async def latest_comments(
    store, parent_uids: Sequence[str], where: Sequence[Any], per_parent: int
) -> list[tuple[str, Memo]]:
    """Up to ``per_parent`` newest comments of each parent in ``parent_uids``, as ``(parent uid,
    comment)``: one statement (a window function), whatever the number of parents."""
    if not parent_uids:
        return []
    parent = m.alias("parent")
    rank = (
        sa.func.row_number()
        .over(partition_by=rel.c.related_memo_id, order_by=(m.c.created_ts.desc(), m.c.id.desc()))
        .label("rank")
    )
    ranked = (
        select_memos()
        .add_columns(parent.c.uid.label("parent_uid"), rank)
        .join(rel, sa.and_(rel.c.memo_id == m.c.id, rel.c.type == COMMENT))
        .join(parent, parent.c.id == rel.c.related_memo_id)
        .where(parent.c.uid.in_(list(parent_uids)), *where)
        .subquery()
    )
    q = sa.select(ranked).where(ranked.c.rank <= per_parent).order_by(ranked.c.created_ts.desc(), ranked.c.id.desc())
    return [(r["parent_uid"], Memo.from_row(r)) for r in await store.fetch_all(q)]


#: The columns CreateMemo writes: its INSERT is a :class:`Template` (built and compiled once).
_INSERT_COLUMNS = frozenset(
    ("uid", "creator_id", "created_ts", "updated_ts", "row_status", "content", "visibility", "pinned", "payload")
)
_INSERT_MEMO = Template(m.insert().values(**{c: sa.bindparam(c, type_=m.c[c].type) for c in sorted(_INSERT_COLUMNS)}))


async def insert_memo(store, **values: Any) -> int:
    """Insert a memo row and its full-text index entry; returns its id. Call it inside a
    transaction: the row and its entry commit together."""
    if values.keys() == _INSERT_COLUMNS:
        memo_id = await store.execute(_INSERT_MEMO(**values))
    else:
        memo_id = await store.execute(m.insert().values(**values))
    await search.index_memos(store, [memo_id])
    return memo_id


async def insert_memo_later(store, **values: Any) -> None:
    """Queue the INSERT of a memo row and its full-text index entry in the caller's transaction
    (:meth:`memos_core.store.Store.execute_later`): on SQLite the transaction then runs nothing
    before its COMMIT, and the driver commits it together with others reaching theirs. The new id
    is not returned; a taken uid fails the COMMIT (the unique index refuses it) and the transaction
    rolls back."""
    if values.keys() == _INSERT_COLUMNS:
        await store.execute_later(_INSERT_MEMO(**values))
    else:
        await store.execute_later(m.insert().values(**values))
    await search.index_memo_uid(store, values["uid"])


async def update_memo(store, memo_id: int, values: dict[str, Any]) -> None:
    """Update a memo's columns; a new content re-indexes it in the same transaction."""
    if values:
        await store.execute(m.update().where(m.c.id == memo_id).values(**values))
        if "content" in values:
            await search.index_memos(store, [memo_id])


async def memo_tree(store, memo_id: int) -> list[tuple[int, str]]:
    """``(id, uid)`` of a memo and, recursively, every comment under it (one recursive CTE)."""
    tree = sa.select(m.c.id).where(m.c.id == memo_id).cte("memo_tree", recursive=True)
    tree = tree.union(sa.select(rel.c.memo_id).where(rel.c.related_memo_id == tree.c.id, rel.c.type == COMMENT))
    rows = await store.fetch_all(sa.select(m.c.id, m.c.uid).where(m.c.id.in_(sa.select(tree.c.id))))
    return [(r["id"], r["uid"]) for r in rows]


async def delete_memos(store, ids: list[int], uids: list[str]) -> None:
    """Delete memos with their relations, reactions, shares, linked attachment rows and inbox rows."""
    if not ids:
        return
    inbox = tables.inbox
    referenced = []
    for kind in ("memoComment", "memoMention"):
        for key in ("memoId", "relatedMemoId"):
            referenced.append(sa.cast(store.driver.json_text(inbox.c.message, kind, key), sa.Integer).in_(ids))
    await store.execute(rel.delete().where(sa.or_(rel.c.memo_id.in_(ids), rel.c.related_memo_id.in_(ids))))
    await store.execute(rx.delete().where(rx.c.content_id.in_([f"memos/{uid}" for uid in uids])))
    await store.execute(tables.memo_share.delete().where(tables.memo_share.c.memo_id.in_(ids)))
    await store.execute(att.delete().where(att.c.memo_id.in_(ids)))
    await store.execute(inbox.delete().where(sa.or_(*referenced)))
    await store.execute(m.delete().where(m.c.id.in_(ids)))
    await search.unindex_memos(store, ids)


# -- relations ---------------------------------------------------------------------------------------
async def relations_for(store, memo_ids: Sequence[int], visible: Any) -> list[Relation]:
    """Relations of both directions touching ``memo_ids`` whose both ends pass ``visible(alias)``."""
    if not memo_ids:
        return []
    src, dst = m.alias("src"), m.alias("dst")
    q = (
        sa.select(
            rel.c.memo_id,
            rel.c.related_memo_id,
            rel.c.type,
            src.c.uid.label("src_uid"),
            src.c.content.label("src_content"),
            dst.c.uid.label("dst_uid"),
            dst.c.content.label("dst_content"),
        )
        .select_from(rel.join(src, src.c.id == rel.c.memo_id).join(dst, dst.c.id == rel.c.related_memo_id))
        .where(sa.or_(rel.c.memo_id.in_(memo_ids), rel.c.related_memo_id.in_(memo_ids)), visible(src), visible(dst))
        .order_by(rel.c.memo_id.desc(), rel.c.related_memo_id.desc(), rel.c.type)
    )
    return [
        Relation(
            memo_id=r["memo_id"],
            memo_uid=r["src_uid"],
            memo_content=r["src_content"] or "",
            related_memo_id=r["related_memo_id"],
            related_uid=r["dst_uid"],
            related_content=r["dst_content"] or "",
            type=r["type"],
        )
        for r in await store.fetch_all(q)
    ]


def _value(column: Any) -> Any:
    """``column`` as a SELECT list reads it (a type's column expression applied: epoch seconds from a
    MySQL TIMESTAMP), for places SQLAlchemy does not apply it itself, such as function arguments."""
    wrap = getattr(column.type, "column_expression", None)
    wrapped = wrap(column) if wrap is not None else None
    return column if wrapped is None else wrapped


def _json(store, **columns: Any) -> Any:
    pairs: list[Any] = []
    for key, column in columns.items():
        pairs += [sa.literal_column(f"'{key}'"), _value(column)]
    return store.driver.json_object(*pairs)


def _branch(kind: str, s1: Any, s2: Any, s3: Any, data: Any) -> list[Any]:
    return [
        sa.literal_column(f"'{kind}'").label("kind"),
        s1.label("s1"),
        s2.label("s2"),
        s3.label("s3"),
        data.label("data"),
    ]


@dataclasses.dataclass(frozen=True)
class ViewerParam:
    """A viewer whose id is a bound parameter: access rules written for a principal build a clause
    that serves any viewer, so the statement around it is built once and reused."""

    id: Any = dataclasses.field(default_factory=lambda: sa.bindparam("viewer_id", type_=sa.Integer))


#: The embeds statement, built once per (dialect, rule, anonymous viewer, contents): building a
#: statement this size costs several times more than running it.
_EMBEDS_STATEMENTS: dict[tuple[Any, ...], Any] = {}


async def embeds_for(
    store,
    memo_ids: Sequence[int],
    memo_uids: Sequence[str],
    visible: Any,
    viewer_id: int | None,
    *,
    contents: bool,
) -> tuple[list[Reaction], list[Relation], list[dict[str, Any]]]:
    """What a page of memos embeds, in one statement: the reactions on them (:func:`reactions_for`),
    the relations touching them whose both ends the viewer may see (:func:`relations_for`) and the
    attachments linked to them (the attachment store's ``for_memos``), each in the order those
    functions give, and each row exactly as they return it.

    ``visible(viewer, alias)`` is the access rule (``services.access.visible_clause``), asked with a
    stand-in viewer whose id is a parameter (or ``None`` for an anonymous ``viewer_id``), so the
    statement is built once and only its parameters change per page. A ``UNION ALL`` of the three,
    each row carried as a JSON object (the driver's ``json_object``) with generic sort keys, so one
    round trip serves a page whatever its size. ``contents=False`` leaves the related memos'
    contents out (list pages show no relation snippets).
    """
    if not memo_ids:
        return [], [], []
    key = (store.driver.name, visible, viewer_id is None, contents)
    template = _EMBEDS_STATEMENTS.get(key)
    if template is None:
        template = _EMBEDS_STATEMENTS[key] = Template(_embeds_statement(store, visible, viewer_id is None, contents))
    params: dict[str, Any] = {"ids": list(memo_ids), "content_ids": [f"memos/{uid}" for uid in memo_uids]}
    if viewer_id is not None:
        params["viewer_id"] = viewer_id
    rows = await store.fetch_all(template(**params))
    return _embeds_from_rows(rows)


def _embeds_statement(store, visible: Any, anonymous: bool, contents: bool) -> Any:
    viewer = None if anonymous else ViewerParam()
    ids = sa.bindparam("ids", expanding=True)
    zero, blank = sa.literal_column("0"), sa.literal_column("''")
    reactions = (
        sa.select(
            *_branch(
                "r",
                rx.c.id,
                zero,
                blank,
                _json(
                    store,
                    id=rx.c.id,
                    creator_id=rx.c.creator_id,
                    creator=u.c.username,
                    content_id=rx.c.content_id,
                    reaction_type=rx.c.reaction_type,
                    created_ts=rx.c.created_ts,
                ),
            )
        )
        .select_from(rx.join(u, u.c.id == rx.c.creator_id))
        .where(rx.c.content_id.in_(sa.bindparam("content_ids", expanding=True)))
    )
    src, dst = m.alias("src"), m.alias("dst")
    relation_data = {
        "memo_id": rel.c.memo_id,
        "related_memo_id": rel.c.related_memo_id,
        "type": rel.c.type,
        "src_uid": src.c.uid,
        "dst_uid": dst.c.uid,
    }
    if contents:
        relation_data.update(src_content=src.c.content, dst_content=dst.c.content)
    relations = (
        sa.select(*_branch("l", -rel.c.memo_id, -rel.c.related_memo_id, rel.c.type, _json(store, **relation_data)))
        .select_from(rel.join(src, src.c.id == rel.c.memo_id).join(dst, dst.c.id == rel.c.related_memo_id))
        .where(
            sa.or_(rel.c.memo_id.in_(ids), rel.c.related_memo_id.in_(ids)), visible(viewer, src), visible(viewer, dst)
        )
    )
    linked = m.alias("linked")
    attachment_data = {c.name: c for c in att.c if c.name != "blob"}
    attachment_data["memo_uid"] = linked.c.uid
    attachments = (
        sa.select(*_branch("a", -_value(att.c.updated_ts), -att.c.id, blank, _json(store, **attachment_data)))
        .select_from(att.outerjoin(linked, linked.c.id == att.c.memo_id))
        .where(att.c.memo_id.in_(ids))
    )
    union = sa.union_all(reactions, relations, attachments).subquery()
    return sa.select(union.c.kind, union.c.data).order_by(union.c.kind, union.c.s1, union.c.s2, union.c.s3)


def _embeds_from_rows(rows: Sequence[Any]) -> tuple[list[Reaction], list[Relation], list[dict[str, Any]]]:
    out_reactions: list[Reaction] = []
    out_relations: list[Relation] = []
    out_attachments: list[dict[str, Any]] = []
    for row in rows:
        data = json.loads(row["data"])
        kind = row["kind"]
        if kind == "r":
            out_reactions.append(Reaction.from_row(data))
        elif kind == "l":
            out_relations.append(
                Relation(
                    memo_id=data["memo_id"],
                    memo_uid=data["src_uid"],
                    memo_content=data.get("src_content") or "",
                    related_memo_id=data["related_memo_id"],
                    related_uid=data["dst_uid"],
                    related_content=data.get("dst_content") or "",
                    type=data["type"],
                )
            )
        else:
            out_attachments.append(data)
    return out_reactions, out_relations, out_attachments


async def parents_for(store, memo_ids: Sequence[int]) -> dict[int, str]:
    """Comment id -> parent uid, whatever the parent's visibility (``Memo.parent``)."""
    if not memo_ids:
        return {}
    q = (
        sa.select(rel.c.memo_id, m.c.uid)
        .select_from(rel.join(m, m.c.id == rel.c.related_memo_id))
        .where(rel.c.memo_id.in_(memo_ids), rel.c.type == COMMENT)
    )
    return {r["memo_id"]: r["uid"] for r in await store.fetch_all(q)}


async def replace_references(store, memo_id: int, related_ids: Sequence[int]) -> None:
    """SetMemoRelations: the memo's outgoing REFERENCE rows become exactly ``related_ids``."""
    await store.execute(rel.delete().where(rel.c.memo_id == memo_id, rel.c.type == REFERENCE))
    if related_ids:
        rows = [{"memo_id": memo_id, "related_memo_id": rid, "type": REFERENCE} for rid in related_ids]
        await store.execute(rel.insert().values(rows))


async def add_comment_relation(store, comment_id: int, parent_id: int) -> None:
    await store.execute(rel.insert().values(memo_id=comment_id, related_memo_id=parent_id, type=COMMENT))


# -- reactions ---------------------------------------------------------------------------------------
def _select_reactions() -> sa.Select:
    return sa.select(*rx.c, u.c.username.label("creator")).select_from(rx.join(u, u.c.id == rx.c.creator_id))


async def reactions_for(store, memo_uids: Sequence[str]) -> list[Reaction]:
    if not memo_uids:
        return []
    q = _select_reactions().where(rx.c.content_id.in_([f"memos/{uid}" for uid in memo_uids])).order_by(rx.c.id)
    return [Reaction.from_row(r) for r in await store.fetch_all(q)]


async def get_reaction(store, *, id: int | None = None, key: tuple[int, str, str] | None = None) -> Reaction | None:
    q = _select_reactions()
    if id is not None:
        q = q.where(rx.c.id == id)
    if key is not None:
        creator_id, content_id, reaction_type = key
        q = q.where(rx.c.creator_id == creator_id, rx.c.content_id == content_id, rx.c.reaction_type == reaction_type)
    row = await store.fetch_one(q)
    return Reaction.from_row(row) if row else None


async def insert_reaction(store, *, creator_id: int, content_id: str, reaction_type: str, created_ts: int) -> int:
    return await store.execute(
        rx.insert().values(
            creator_id=creator_id, content_id=content_id, reaction_type=reaction_type, created_ts=created_ts
        )
    )


async def delete_reaction(store, reaction_id: int) -> None:
    await store.execute(rx.delete().where(rx.c.id == reaction_id))


# -- attachments ---------------------------------------------------------------------------------------
async def attachments_for(store, memo_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Attachment rows linked to ``memo_ids`` (without blobs), newest update first.

    Kept for existing callers; attachment queries live in :mod:`memos_core.store.attachments`."""
    from . import attachments

    return await attachments.for_memos(store, memo_ids)


# -- inbox ---------------------------------------------------------------------------------------------
async def insert_inbox(store, rows: Sequence[tuple[int, int, dict[str, Any]]], created_ts: int) -> None:
    """Unread notices, one statement: ``(sender_id, receiver_id, message)`` each."""
    if rows:
        values = [
            {"sender_id": s, "receiver_id": r, "status": "UNREAD", "message": dumps(msg), "created_ts": created_ts}
            for s, r, msg in rows
        ]
        await store.execute(tables.inbox.insert().values(values))
