"""The memo service: create, read, list, update and delete memos, with their comments,
reactions and relations.

Handlers pass parsed request pieces here; this module applies the rules (access through
:mod:`memos_core.services.access`), writes through :mod:`memos_core.store.memos`, announces
committed changes, and returns API JSON (protojson shape).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .. import events
from ..context import Event
from ..errors import already_exists, invalid, not_found
from ..store import memos as store
from ..store import tables
from ..store import users as users_store
from ..wire import UID_RE, decode_page_token, encode_page_token, format_time, parse_name, required_mask, time_field
from . import access, instance
from . import attachments as attachment_service

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

VISIBILITIES = {1: "PRIVATE", 2: "PROTECTED", 3: "PUBLIC"}
STATES = {1: "NORMAL", 2: "ARCHIVED"}
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
PROPERTY_FIELDS = ("hasLink", "hasTaskList", "hasCode", "hasIncompleteTasks", "title")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_BASE57 = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def new_uid() -> str:
    """A 22-character base57 short uuid, the shape upstream generates for memo ids."""
    n = int.from_bytes(secrets.token_bytes(16))
    out = []
    for _ in range(22):
        n, r = divmod(n, 57)
        out.append(_BASE57[r])
    return "".join(out)


# -- input parsing ---------------------------------------------------------------------------------
def parse_visibility(value: Any) -> str:
    """Unspecified or unknown visibilities are stored as PRIVATE, as upstream does."""
    if isinstance(value, str) and value in VISIBILITIES.values():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return VISIBILITIES.get(value, "PRIVATE")
    return "PRIVATE"


def parse_state(value: Any, *, field: str = "state") -> str:
    """NORMAL / ARCHIVED (names or numbers); unspecified means NORMAL; anything else is a 400."""
    if value in (None, "", 0, "0", "STATE_UNSPECIFIED"):
        return "NORMAL"
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in STATES:
        return STATES[value]
    if isinstance(value, str) and value in STATES.values():
        return value
    raise invalid(f"invalid {field}: {value!r}")


#: MySQL keeps memo times in TIMESTAMP columns (as upstream's schema does): 0 is stored as the zero
#: TIMESTAMP, anything else must lie in 1970-01-01T00:00:01Z .. 2038-01-19T03:14:07Z.
_MYSQL_TIMESTAMP_MAX = 2**31 - 1


def _memo_time(ctx: Context, body: dict[str, Any], *keys: str) -> int | None:
    """An optional memo time from the body; 400 if malformed or if the database cannot store it."""
    value = time_field(body, *keys)
    if value is not None and ctx.store.dialect == "mysql" and value != 0 and not 0 < value <= _MYSQL_TIMESTAMP_MAX:
        raise invalid(f"invalid {keys[0]}: out of range for this database (1970-01-01 to 2038-01-19)")
    return value


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"invalid {key}: {value!r}")
    return value


def _content(body: dict[str, Any]) -> str:
    value = body.get("content", "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid("invalid content")
    return value


def parse_location(value: Any) -> dict[str, Any] | None:
    """A Location message as stored (zero fields omitted); ``None`` when unset or empty."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("invalid location")
    out: dict[str, Any] = {}
    placeholder = value.get("placeholder", "")
    if not isinstance(placeholder, str):
        raise invalid("invalid location.placeholder")
    if placeholder:
        out["placeholder"] = placeholder
    for key in ("latitude", "longitude"):
        raw = value.get(key, 0)
        if raw in (None, ""):
            raw = 0
        if isinstance(raw, bool):
            raise invalid(f"invalid location.{key}")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise invalid(f"invalid location.{key}") from None
        if number:
            out[key] = number
    return out or None


def parse_relation_targets(relations: Any) -> list[str]:
    """Target uids of SetMemoRelations input, in order, COMMENT entries dropped."""
    if relations is None:
        return []
    if not isinstance(relations, list):
        raise invalid("relations must be a list")
    uids: list[str] = []
    for item in relations:
        if not isinstance(item, dict):
            raise invalid("invalid relation")
        if item.get("type") in ("COMMENT", 2):
            continue
        related = item.get("relatedMemo", item.get("related_memo"))
        name = related.get("name") if isinstance(related, dict) else None
        uid = parse_name(name, "memos")
        if uid not in uids:
            uids.append(uid)
    return uids


parse_attachment_uids = attachment_service.parse_attachment_uids


async def _check_content(ctx: Context, content: str) -> None:
    limit = (await instance.memo_related(ctx.store))["contentLengthLimit"]
    if len(content.encode()) > limit:
        raise invalid("content too long")


async def max_body_bytes(ctx: Context) -> int:
    """The largest request body that can carry a memo within the content length limit: a JSON
    escape (``\\u0000``) takes at most six bytes per byte of content, plus room for other fields."""
    limit = (await instance.memo_related(ctx.store))["contentLengthLimit"]
    return limit * 6 + 64 * 1024


async def derive_payload(ctx: Context, content: str, location: dict[str, Any] | None) -> dict[str, Any]:
    """``memo.payload`` from the markdown hook, with protojson's omission of empty values."""
    extracted = await ctx.first("memos_extract_payload", content=content) or {}
    payload: dict[str, Any] = {}
    prop = {k: v for k, v in (extracted.get("property") or {}).items() if v}
    if prop:
        payload["property"] = prop
    if location:
        payload["location"] = location
    tags = [t for t in (extracted.get("tags") or []) if t]
    if tags:
        payload["tags"] = tags
    return payload


# -- output ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Embeds:
    """What a page of memos embeds, each loaded with one query for the whole page."""

    reactions: dict[str, list[store.Reaction]]
    relations: dict[int, list[store.Relation]]
    attachments: dict[int, list[Any]]
    parents: dict[int, str]


async def load_embeds(
    ctx: Context,
    viewer: Principal | None,
    memos: list[store.Memo],
    *,
    relation_contents: bool = True,
    comments: bool = True,
) -> Embeds:
    """Reactions, relations and attachments of a page in one statement (:func:`store.embeds_for`),
    and the parents of the comments among them in one more, unless the caller knows there are none
    (``comments=False``: ListMemos never lists comments). ``relation_contents=False`` skips the
    related memos' contents when no relation snippet is shown."""
    ids = [m.id for m in memos]
    found = await store.embeds_for(
        ctx.store,
        ids,
        [m.uid for m in memos],
        access.visible_clause,
        viewer.id if viewer is not None else None,
        contents=relation_contents,
    )
    reactions: dict[str, list[store.Reaction]] = defaultdict(list)
    for r in found[0]:
        reactions[r.content_id.removeprefix("memos/")].append(r)
    relations: dict[int, list[store.Relation]] = defaultdict(list)
    wanted = set(ids)
    for rel in found[1]:
        if rel.memo_id in wanted:
            relations[rel.memo_id].append(rel)
        if rel.related_memo_id in wanted and rel.related_memo_id != rel.memo_id:
            relations[rel.related_memo_id].append(rel)
    attachments: dict[int, list[Any]] = defaultdict(list)
    for row in found[2]:
        attachments[row["memo_id"]].append(row)
    parents = await store.parents_for(ctx.store, ids) if comments else {}
    return Embeds(reactions, relations, attachments, parents)


async def snippet(ctx: Context, content: str) -> str:
    return (await ctx.first("memos_generate_snippet", content=content)) or ""


def reaction_json(r: store.Reaction) -> dict[str, Any]:
    return {
        "name": f"{r.content_id}/reactions/{r.id}",
        "creator": f"users/{r.creator}",
        "contentId": r.content_id,
        "reactionType": r.reaction_type,
        "createTime": format_time(r.created_ts),
    }


async def relation_json(ctx: Context, rel: store.Relation, *, snippets: bool) -> dict[str, Any]:
    return {
        "memo": {
            "name": f"memos/{rel.memo_uid}",
            "snippet": await snippet(ctx, rel.memo_content) if snippets else "",
        },
        "relatedMemo": {
            "name": f"memos/{rel.related_uid}",
            "snippet": await snippet(ctx, rel.related_content) if snippets else "",
        },
        "type": rel.type,
    }


async def memo_json(
    ctx: Context, memo: store.Memo, embeds: Embeds, *, relation_snippets: bool = True
) -> dict[str, Any]:
    """A memo in the API's JSON shape (OpenAPI ``Memo``)."""
    payload = memo.payload
    prop = payload.get("property") or {}
    out: dict[str, Any] = {
        "name": memo.name,
        "state": memo.row_status,
        "creator": f"users/{memo.creator}",
        "createTime": format_time(memo.created_ts),
        "updateTime": format_time(memo.updated_ts),
        "content": memo.content,
        "visibility": memo.visibility,
        "tags": list(payload.get("tags") or []),
        "pinned": memo.pinned,
        "attachments": [attachment_service.attachment_json(a) for a in embeds.attachments.get(memo.id, [])],
        "relations": [
            await relation_json(ctx, r, snippets=relation_snippets) for r in embeds.relations.get(memo.id, [])
        ],
        "reactions": [reaction_json(r) for r in embeds.reactions.get(memo.uid, [])],
        "property": {
            "hasLink": bool(prop.get("hasLink", False)),
            "hasTaskList": bool(prop.get("hasTaskList", False)),
            "hasCode": bool(prop.get("hasCode", False)),
            "hasIncompleteTasks": bool(prop.get("hasIncompleteTasks", False)),
            "title": str(prop.get("title", "")),
        },
    }
    parent = embeds.parents.get(memo.id)
    if parent:
        out["parent"] = f"memos/{parent}"
    out["snippet"] = await snippet(ctx, memo.content)
    location = payload.get("location")
    if isinstance(location, dict):
        out["location"] = {
            "placeholder": location.get("placeholder", ""),
            "latitude": location.get("latitude", 0),
            "longitude": location.get("longitude", 0),
        }
    return out


async def memos_json(
    ctx: Context,
    viewer: Principal | None,
    memos: list[store.Memo],
    *,
    relation_snippets: bool = True,
    comments: bool = True,
) -> list[dict[str, Any]]:
    embeds = await load_embeds(ctx, viewer, memos, relation_contents=relation_snippets, comments=comments)
    return [await memo_json(ctx, m, embeds, relation_snippets=relation_snippets) for m in memos]


async def one_memo_json(ctx: Context, viewer: Principal | None, memo: store.Memo) -> dict[str, Any]:
    return (await memos_json(ctx, viewer, [memo]))[0]


# -- paging ----------------------------------------------------------------------------------------
def page_window(page_size: int, page_token: str) -> tuple[int, int]:
    """``(limit, offset)``: a page token's limit overrides ``pageSize``."""
    if page_token and not _BASE64.match(page_token):
        raise invalid(f"invalid page token: {page_token}")
    limit, offset = decode_page_token(page_token) if page_token else (0, 0)
    if limit <= 0:
        limit = page_size
    if limit <= 0:
        limit = DEFAULT_PAGE_SIZE
    return min(limit, MAX_PAGE_SIZE), offset


def next_token(rows: list[Any], limit: int, offset: int) -> str:
    if len(rows) > limit:
        del rows[limit:]
        return encode_page_token(limit, offset + limit)
    return ""


def parse_order_by(order_by: str) -> list[Any]:
    """``orderBy``: pinned first if asked, the first time field, then id DESC."""
    m = tables.memo
    pinned = False
    time_col, time_asc = None, False
    for part in (order_by or "").split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2:
            raise invalid(f"invalid order by: {part.strip()!r}")
        direction = words[1].lower() if len(words) == 2 else "desc"
        if direction not in ("asc", "desc"):
            raise invalid(f"invalid order direction: {words[1]!r}")
        field = words[0]
        if field == "pinned":
            pinned = True
        elif field in ("create_time", "name", "update_time"):
            if time_col is None:
                time_col = m.c.updated_ts if field == "update_time" else m.c.created_ts
                time_asc = direction == "asc"
        else:
            raise invalid(f"unsupported order by field: {field!r}")
    if time_col is None:
        time_col = m.c.created_ts
    clauses: list[Any] = [m.c.pinned.desc()] if pinned else []
    clauses.append(time_col.asc() if time_asc else time_col.desc())
    clauses.append(m.c.id.desc())
    return clauses


# -- memos -----------------------------------------------------------------------------------------
async def _memo(ctx: Context, uid: str) -> store.Memo:
    memo = await store.get_memo(ctx.store, uid=uid)
    if memo is None:
        raise not_found("memo not found")
    return memo


async def get_memo(ctx: Context, viewer: Principal | None, uid: str) -> dict[str, Any]:
    """The memo ``memos/<uid>`` as GET /api/v1/memos/{uid} answers it to ``viewer``, or the same
    :class:`ApiError` (not found, unauthenticated, permission denied). Public: ``memos_core.get_memo``."""
    memo = await store.get_memo(ctx.store, uid=uid)
    access.check_read(viewer, memo)
    return await one_memo_json(ctx, viewer, memo)


async def list_memos(
    ctx: Context,
    viewer: Principal | None,
    *,
    page_size: int = 0,
    page_token: str = "",
    state: Any = None,
    order_by: str = "",
    filter: str = "",
    search: str | None = None,
    include_comments: bool = False,
    search_mode: str | None = None,
) -> dict[str, Any]:
    """ListMemos; with ``search`` (not ``None``), the search of :mod:`memos_core.services.search`
    instead, ranked by relevance (``orderBy`` does not apply) in ``search_mode`` (the built-in
    full-text ranking by default)."""
    state = parse_state(state)
    order = parse_order_by(order_by)
    limit, offset = page_window(page_size, page_token)
    clause = None
    if filter and filter.strip():
        clause = await ctx.first(
            "memos_compile_filter", expression=filter, scope="memo", context={"dialect": ctx.store.dialect}
        )
        if clause is None:
            raise invalid("filter is not supported")
    snippets: list[str] = []
    if search is not None:
        from . import search as search_service

        rows, snippets = await search_service.search_memos(
            ctx,
            viewer,
            search,
            state=state,
            filter_clause=clause,
            include_comments=include_comments,
            limit=limit,
            offset=offset,
            mode=search_mode or "text",
        )
    elif clause is not None:
        where = [tables.memo.c.row_status == state, access.list_clause(viewer, state), store.not_comment(), clause]
        rows = await store.list_memos(ctx.store, where, order, limit + 1, offset)
    else:
        values = {"limit": limit + 1, "offset": offset}
        if viewer is not None:
            values["viewer_id"] = viewer.id
        rows = await store.list_memos_page(ctx.store, _page_template(state, viewer is None, order), **values)
    token = next_token(rows, limit, offset)
    # Comments are listed only by a search that asks for them; otherwise not_comment() excluded them.
    comments = search is not None and include_comments
    memos = await memos_json(ctx, viewer, rows, relation_snippets=False, comments=comments)
    for memo, found in zip(memos, snippets, strict=False):
        memo["searchSnippet"] = found
    return {"memos": memos, "nextPageToken": token}


#: ListMemos' statement without a filter, built once per (state, anonymous?, order): see
#: :class:`memos_core.store.compiled.Template`. The order's rendered SQL keys it, so whatever
#: ``orderBy`` a client sends, there are at most a few dozen.
_PAGE_TEMPLATES: dict[tuple[Any, ...], Any] = {}


def _page_template(state: str, anonymous: bool, order: list[Any]) -> Any:
    key = (state, anonymous, *(str(clause) for clause in order))
    template = _PAGE_TEMPLATES.get(key)
    if template is None:
        viewer = None if anonymous else store.ViewerParam()
        where = [tables.memo.c.row_status == state, access.list_clause(viewer, state), store.not_comment()]
        template = _PAGE_TEMPLATES[key] = store.page_template(where, order)
    return template


async def _set_references(ctx: Context, memo_id: int, memo_uid: str, uids: list[str]) -> None:
    targets = [uid for uid in uids if uid != memo_uid]
    found = await store.ids_by_uids(ctx.store, targets)
    for uid in targets:
        if uid not in found:
            raise not_found(f"related memo not found: memos/{uid}")
    await store.replace_references(ctx.store, memo_id, [found[uid] for uid in targets if found[uid] != memo_id])


async def create_memo(
    ctx: Context,
    viewer: Principal,
    body: dict[str, Any],
    memo_id: str | None = None,
    *,
    parent: store.Memo | None = None,
) -> dict[str, Any]:
    """CreateMemo (and the memo half of CreateMemoComment when ``parent`` is given)."""
    uid = (memo_id or "").strip()
    if uid and not UID_RE.match(uid):
        raise invalid(f"invalid memo id: {uid!r}")
    uid = uid or new_uid()
    content = _content(body)
    await _check_content(ctx, content)
    visibility = parse_visibility(body.get("visibility"))
    pinned = _bool(body, "pinned")
    now = int(time.time())
    created = _memo_time(ctx, body, "createTime", "create_time")
    updated = _memo_time(ctx, body, "updateTime", "update_time")
    location = parse_location(body.get("location"))
    relation_uids = parse_relation_targets(body.get("relations"))
    attachment_uids = parse_attachment_uids(body.get("attachments"))
    payload = await derive_payload(ctx, content, location)

    row = {
        "uid": uid,
        "creator_id": viewer.id,
        "created_ts": now if created is None else created,
        "updated_ts": now if updated is None else updated,
        "row_status": "NORMAL",
        "content": content,
        "visibility": visibility,
        "pinned": pinned,
        "payload": store.dumps(payload),
    }
    links = parent is not None or relation_uids or attachment_uids
    if not links and (visibility == "PRIVATE" or not await ctx.first("memos_extract_mentions", content=content)):
        return await _create_plain(ctx, viewer, row)
    async with ctx.store.transaction():
        # A taken uid is the unique index's to refuse: no lookup first (one statement fewer per create).
        try:
            new_id = await store.insert_memo(ctx.store, **row)
        except Exception as e:
            if ctx.store.is_unique_violation(e):
                raise already_exists(f"memo already exists: memos/{uid}") from None
            raise
        notices: list[tuple[int, int, dict[str, Any]]] = []
        if parent is not None:
            await store.add_comment_relation(ctx.store, new_id, parent.id)
            if parent.creator_id != viewer.id and visibility != "PRIVATE":
                message = {"type": "MEMO_COMMENT", "memoComment": {"memoId": new_id, "relatedMemoId": parent.id}}
                notices.append((viewer.id, parent.creator_id, message))
        notices += await _mention_notices(ctx, viewer, new_id, viewer.id, visibility, content, "", parent, notices)
        await store.insert_inbox(ctx.store, notices, now)
        if relation_uids:
            await _set_references(ctx, new_id, uid, relation_uids)
        if attachment_uids:
            await attachment_service.link_to_memo(ctx, viewer, new_id, attachment_uids)  # a new memo drops none

        # The memo is what was just written: no read-back. A memo that is not a comment and links no
        # relations or attachments embeds nothing (a new uid has no reactions): no query for that either.
        memo = store.Memo(id=new_id, creator=viewer.user.username, **{**row, "payload": store.loads(row["payload"])})
        if parent is not None or relation_uids or attachment_uids:
            data = await one_memo_json(ctx, viewer, memo)
        else:
            data = await memo_json(ctx, memo, Embeds({}, {}, {}, {}))
        extra = {"parent": parent.name} if parent is not None else {}
        event = Event(events.MEMO_CREATED, data, actor=viewer.user, extra=extra)
        if ctx.live is not None:
            await ctx.live.record(event)  # the live announcement commits with the memo
    await ctx.emit(event, live=False)
    return data


async def _create_plain(ctx: Context, viewer: Principal, row: dict[str, Any]) -> dict[str, Any]:
    """CreateMemo for a memo that notifies nobody and links nothing, the common case. Its answer
    needs no id (the JSON of a memo without embeds names it by uid), so the memo row, its index
    entry and its live announcement are all queued and written with the COMMIT: on SQLite nothing
    runs before it, so the driver commits it together with the other creates reaching theirs."""
    memo = store.Memo(id=0, creator=viewer.user.username, **{**row, "payload": store.loads(row["payload"])})
    data = await memo_json(ctx, memo, Embeds({}, {}, {}, {}))
    event = Event(events.MEMO_CREATED, data, actor=viewer.user, extra={})
    try:
        async with ctx.store.transaction():
            await store.insert_memo_later(ctx.store, **row)
            if ctx.live is not None:
                await ctx.live.record(event)  # the live announcement commits with the memo
    except Exception as e:
        if ctx.store.is_unique_violation(e):  # a taken uid: the unique index refused it
            raise already_exists(f"memo already exists: memos/{row['uid']}") from None
        raise
    await ctx.emit(event, live=False)
    return data


async def _mention_notices(
    ctx: Context,
    viewer: Principal,
    memo_id: int,
    creator_id: int,
    visibility: str,
    content: str,
    old_content: str,
    parent: store.Memo | None,
    already: list[tuple[int, int, dict[str, Any]]],
) -> list[tuple[int, int, dict[str, Any]]]:
    """MEMO_MENTION notices for ``@names`` new in ``content``."""
    names = await ctx.first("memos_extract_mentions", content=content) or []
    if old_content and names:
        old = set(await ctx.first("memos_extract_mentions", content=old_content) or [])
        names = [n for n in names if n not in old]
    if not names or visibility == "PRIVATE":
        return []  # a PRIVATE memo's only reader is its creator, who is never notified of themself
    notified = {receiver for _, receiver, _ in already}
    mention: dict[str, Any] = {"memoId": memo_id}
    if parent is not None:
        mention["relatedMemoId"] = parent.id
    out = []
    for user in (await users_store.get_users_by_usernames(ctx.store, names)).values():
        if user.is_archived or user.id in (creator_id, viewer.id) or user.id in notified:
            continue
        if parent is not None and parent.visibility == "PRIVATE" and user.id != parent.creator_id:
            continue
        out.append((viewer.id, user.id, {"type": "MEMO_MENTION", "memoMention": mention}))
    return out


UPDATABLE = {
    "content",
    "visibility",
    "pinned",
    "state",
    "create_time",
    "update_time",
    "location",
    "attachments",
    "relations",
}


async def update_memo(
    ctx: Context, viewer: Principal, uid: str, body: dict[str, Any], mask: list[str] | None
) -> dict[str, Any]:
    """UpdateMemo: only the masked fields change; unknown paths are ignored, ``display_time`` is gone.

    Without a mask, the body's fields are the mask, so ``{"content": …}`` alone works.
    """
    mask = required_mask(mask, body)
    if "display_time" in mask:
        raise invalid("display_time is no longer supported; use create_time or update_time")
    memo = await store.get_memo(ctx.store, uid=uid)
    access.check_write(viewer, memo)
    paths = [p for p in mask if p in UPDATABLE]
    values: dict[str, Any] = {}
    payload = dict(memo.payload)
    payload_changed = False
    relation_uids: list[str] | None = None
    attachment_uids: list[str] | None = None
    now = int(time.time())
    for path in paths:
        if path == "content":
            content = _content(body)
            await _check_content(ctx, content)
            values["content"] = content
            location = payload.get("location")
            payload = await derive_payload(ctx, content, location)
            payload_changed = True
        elif path == "visibility":
            values["visibility"] = parse_visibility(body.get("visibility"))
        elif path == "pinned":
            values["pinned"] = _bool(body, "pinned")
        elif path == "state":
            values["state"] = parse_state(body.get("state"))
        elif path == "create_time":
            created = _memo_time(ctx, body, "createTime", "create_time")
            values["created_ts"] = 0 if created is None else created
        elif path == "update_time":
            updated = _memo_time(ctx, body, "updateTime", "update_time")
            values["updated_ts"] = now if updated is None else updated
        elif path == "location":
            location = parse_location(body.get("location"))
            if location:
                payload["location"] = location
            else:
                payload.pop("location", None)
            payload_changed = True
        elif path == "relations":
            relation_uids = parse_relation_targets(body.get("relations"))
        elif path == "attachments":
            attachment_uids = parse_attachment_uids(body.get("attachments"))
    if "state" in values:
        values["row_status"] = values.pop("state")
    if payload_changed:
        # Keep key order stable: property, location, tags (as upstream's protojson writes them).
        ordered = {k: payload[k] for k in ("property", "location", "tags") if k in payload}
        values["payload"] = store.dumps({**ordered, **payload})
    if (relation_uids is not None or attachment_uids is not None) and "updated_ts" not in values:
        values["updated_ts"] = now  # the Set* calls behind these paths touch the memo

    async with ctx.store.transaction():
        await store.update_memo(ctx.store, memo.id, values)
        if "content" in values and values["content"] != memo.content:
            parents = await store.parents_for(ctx.store, [memo.id])
            parent = await store.get_memo(ctx.store, uid=parents[memo.id]) if memo.id in parents else None
            visibility = values.get("visibility", memo.visibility)
            notices = await _mention_notices(
                ctx, viewer, memo.id, memo.creator_id, visibility, values["content"], memo.content, parent, []
            )
            await store.insert_inbox(ctx.store, notices, now)
        if relation_uids is not None:
            await _set_references(ctx, memo.id, memo.uid, relation_uids)
        removed = []
        if attachment_uids is not None:
            removed = await attachment_service.link_to_memo(ctx, viewer, memo.id, attachment_uids)
    await attachment_service.remove_bytes(ctx, removed)  # only once the unlinking committed

    memo = await _memo(ctx, uid)
    data = await one_memo_json(ctx, viewer, memo)
    await ctx.emit(Event(events.MEMO_UPDATED, data, actor=viewer.user, extra=await _parent_extra(ctx, memo)))
    return data


async def _parent_extra(ctx: Context, memo: store.Memo) -> dict[str, Any]:
    parents = await store.parents_for(ctx.store, [memo.id])
    return {"parent": f"memos/{parents[memo.id]}"} if memo.id in parents else {}


async def delete_memo(ctx: Context, viewer: Principal, uid: str) -> None:
    """DeleteMemo: the memo, its comments (recursively) and everything attached to them, in one go."""
    memo = await store.get_memo(ctx.store, uid=uid)
    access.check_write(viewer, memo)
    snapshot = await one_memo_json(ctx, viewer, memo)
    async with ctx.store.transaction():
        tree = await store.memo_tree(ctx.store, memo.id)
        attached = await attachment_service.rows_for_memos(ctx, [i for i, _ in tree])
        await store.delete_memos(ctx.store, [i for i, _ in tree], [u for _, u in tree])
    await attachment_service.remove_bytes(ctx, attached)  # the rows are gone: now their files
    await ctx.emit(Event(events.MEMO_DELETED, snapshot, actor=viewer.user))


# -- comments --------------------------------------------------------------------------------------
async def create_comment(
    ctx: Context, viewer: Principal, parent_uid: str, body: dict[str, Any], comment_id: str | None = None
) -> dict[str, Any]:
    parent = await store.get_memo(ctx.store, uid=parent_uid)
    access.check_interact(viewer, parent)
    data = await create_memo(ctx, viewer, body, comment_id, parent=parent)
    parent_data = await one_memo_json(ctx, viewer, parent)
    await ctx.emit(Event(events.MEMO_COMMENT_CREATED, data, actor=viewer.user, extra={"parent": parent_data}))
    return data


async def list_comments(
    ctx: Context, viewer: Principal | None, parent_uid: str, *, page_size: int = 0, page_token: str = ""
) -> dict[str, Any]:
    """Comments newest first, each filtered by its own visibility."""
    parent = await _memo(ctx, parent_uid)
    limit, offset = page_window(page_size, page_token)
    rows = await store.list_comments(ctx.store, parent.id, [access.visible_clause(viewer)], limit + 1, offset)
    token = next_token(rows, limit, offset)
    return {"memos": await memos_json(ctx, viewer, rows), "nextPageToken": token, "totalSize": 0}


# -- reactions -------------------------------------------------------------------------------------
async def latest_comments(
    ctx: Context, viewer: Principal | None, memo_names: list[str], *, per_memo: int = 2
) -> dict[str, list[dict[str, Any]]]:
    """The newest comments the viewer may read under each memo (a card's preview), by memo name:
    ``{"name", "creator", "createTime", "snippet"}`` each, newest first; one query for all."""
    uids = [name.removeprefix("memos/") for name in memo_names]
    where = [tables.memo.c.row_status == "NORMAL", access.visible_clause(viewer)]
    out: dict[str, list[dict[str, Any]]] = {}
    for parent_uid, comment in await store.latest_comments(ctx.store, uids, where, per_memo):
        out.setdefault(f"memos/{parent_uid}", []).append(
            {
                "name": comment.name,
                "creator": f"users/{comment.creator}",
                "createTime": format_time(comment.created_ts),
                "snippet": await snippet(ctx, comment.content),
            }
        )
    return out


async def list_reactions(ctx: Context, viewer: Principal | None, uid: str) -> dict[str, Any]:
    memo = await store.get_memo(ctx.store, uid=uid)
    access.check_read_attached(viewer, memo)
    reactions = [reaction_json(r) for r in await store.reactions_for(ctx.store, [memo.uid])]
    return {"reactions": reactions, "nextPageToken": "", "totalSize": len(reactions)}


async def upsert_reaction(ctx: Context, viewer: Principal, uid: str, body: dict[str, Any]) -> dict[str, Any]:
    """UpsertMemoReaction: idempotent; the same creator, memo and type return the existing reaction."""
    reaction = body.get("reaction")
    if not isinstance(reaction, dict):
        raise invalid("reaction is required")
    content_id = reaction.get("contentId", reaction.get("content_id")) or f"memos/{uid}"
    target_uid = parse_name(content_id, "memos")
    reaction_type = reaction.get("reactionType", reaction.get("reaction_type"))
    if not isinstance(reaction_type, str) or not reaction_type.strip():
        raise invalid("reaction type is required")
    memo = await store.get_memo(ctx.store, uid=target_uid)
    access.check_interact(viewer, memo)
    key = (viewer.id, memo.name, reaction_type)
    async with ctx.store.transaction():
        existing = await store.get_reaction(ctx.store, key=key)
        if existing is None:
            try:
                async with ctx.store.transaction():  # a savepoint: a lost race must not poison the outer one
                    await store.insert_reaction(
                        ctx.store,
                        creator_id=viewer.id,
                        content_id=memo.name,
                        reaction_type=reaction_type,
                        created_ts=int(time.time()),
                    )
            except Exception as e:
                if not ctx.store.is_unique_violation(e):
                    raise
            existing = await store.get_reaction(ctx.store, key=key)
    data = reaction_json(existing)
    await ctx.emit(Event(events.REACTION_UPSERTED, data, actor=viewer.user, extra={"memo": memo.name}))
    return data


async def delete_reaction(ctx: Context, viewer: Principal, uid: str, reaction_id: str) -> None:
    try:
        rid = int(reaction_id)
    except ValueError:
        raise invalid(f"invalid reaction id: {reaction_id!r}") from None
    reaction = await store.get_reaction(ctx.store, id=rid)
    if reaction is None or reaction.content_id != f"memos/{uid}":
        raise not_found("reaction not found")
    access.check_reaction_owner(viewer, reaction)
    async with ctx.store.transaction():
        await store.delete_reaction(ctx.store, rid)
    await ctx.emit(
        Event(events.REACTION_DELETED, reaction_json(reaction), actor=viewer.user, extra={"memo": f"memos/{uid}"})
    )


# -- relations -------------------------------------------------------------------------------------
async def set_relations(ctx: Context, viewer: Principal, uid: str, body: dict[str, Any]) -> None:
    memo = await store.get_memo(ctx.store, uid=uid)
    access.check_write(viewer, memo)
    uids = parse_relation_targets(body.get("relations"))
    async with ctx.store.transaction():
        await _set_references(ctx, memo.id, memo.uid, uids)
        await store.update_memo(ctx.store, memo.id, {"updated_ts": int(time.time())})
    memo = await _memo(ctx, uid)
    data = await one_memo_json(ctx, viewer, memo)
    await ctx.emit(Event(events.MEMO_UPDATED, data, actor=viewer.user, extra=await _parent_extra(ctx, memo)))


async def list_relations(ctx: Context, viewer: Principal | None, uid: str) -> dict[str, Any]:
    """Relations of both directions whose both ends the viewer may see."""
    memo = await _memo(ctx, uid)
    rels = await store.relations_for(ctx.store, [memo.id], lambda t: access.visible_clause(viewer, t))
    return {"relations": [await relation_json(ctx, r, snippets=True) for r in rels], "nextPageToken": ""}
