"""The MCP tools (the 19 of upstream's catalog), their toolsets, and the per-request tool filter.

Every tool goes through the services (:mod:`memos_core.services`), so what a caller may read or
change is decided where the REST API decides it. On top of that, MCP keeps upstream's stricter
reading of visibility: a memo is read through :func:`access.check_read` (no admin bypass, archived
memos exist only for their creator) before a service is asked about its reactions, attachments,
comments or relations, and the memo-changing tools are for the memo's creator only.

Tool output is upstream's MCP shape: snake_case keys, unix-second times. A failure is a tool result
with ``isError`` (the model sees the message), never a JSON-RPC error.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from aiohttp import web

from .. import search_modes
from ..errors import ApiError
from ..services import access, instance
from ..services import attachments as attachment_service
from ..services import memos as memo_service
from ..services import stats as stats_service
from ..store import attachments as attachments_store
from ..store import memos as memos_store
from ..store import users as users_store
from ..wire import UID_RE, encode_page_token, parse_time

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

HEADER_READONLY = "X-MCP-Readonly"
HEADER_TOOLSETS = "X-MCP-Toolsets"
HEADER_TOOLS = "X-MCP-Tools"
HEADER_EXCLUDE_TOOLS = "X-MCP-Exclude-Tools"

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
SEARCH_LIMIT = 50
_SCAN_PAGE = 1000  # the services' largest page, for tools that read a whole list
UNAUTHENTICATED = "unauthenticated: a personal access token is required"


class ToolFailure(Exception):
    """Ends a tool call with ``isError: true`` and this message."""


# -- the per-request configuration -------------------------------------------------------------------
def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "t", "true", "y", "yes", "on")


def _csv(value: str | None, *, lower: bool = False) -> frozenset[str]:
    items = (item.strip() for item in (value or "").split(","))
    return frozenset(item.lower() if lower else item for item in items if item)


@dataclasses.dataclass(frozen=True)
class ToolConfig:
    """Which tools a request may see and call: ``X-MCP-*`` headers and the ``/mcp/x/{csv}`` and
    ``/readonly`` path forms. Toolset names are case-insensitive, tool names exact."""

    readonly: bool = False
    toolsets: frozenset[str] = frozenset()
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()

    @classmethod
    def from_request(cls, request: web.Request) -> ToolConfig:
        path_toolsets = request.match_info.get("toolsets", "")
        path_readonly = request.match_info.route.resource.canonical.endswith("/readonly")
        return cls(
            readonly=path_readonly or _truthy(request.headers.get(HEADER_READONLY)),
            toolsets=_csv(path_toolsets, lower=True) | _csv(request.headers.get(HEADER_TOOLSETS), lower=True),
            include=_csv(request.headers.get(HEADER_TOOLS)),
            exclude=_csv(request.headers.get(HEADER_EXCLUDE_TOOLS)),
        )

    def allows(self, tool: Tool) -> bool:
        if self.readonly and tool.mutates:
            return False
        if tool.name in self.exclude:
            return False
        if tool.name in self.include or not self.toolsets:
            return True
        return tool.toolset in self.toolsets


@dataclasses.dataclass(frozen=True)
class Call:
    """One MCP request: the application context, the caller (``None`` when anonymous), the filter."""

    ctx: Context
    viewer: Principal | None
    config: ToolConfig


# -- the catalog -------------------------------------------------------------------------------------
Handler = Callable[[Call, dict[str, Any]], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    toolset: str
    title: str
    description: str
    properties: dict[str, Any]
    required: tuple[str, ...]
    handler: Handler
    mutates: bool = False
    destructive: bool = False
    idempotent: bool = True
    #: Properties that depend on the running instance (its installed plugins), added to ``properties``.
    extra_properties: Callable[[Context], dict[str, Any]] | None = None

    def to_json(self, ctx: Context | None = None) -> dict[str, Any]:
        properties = self.properties
        if self.extra_properties is not None and ctx is not None:
            properties = {**properties, **self.extra_properties(ctx)}
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if self.required:
            schema["required"] = list(self.required)
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": not self.mutates,
                "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent,
                "openWorldHint": False,
            },
        }


def _string(description: str, enum: Iterable[str] | None = None) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": "string", "description": description}
    if enum is not None:
        prop["enum"] = list(enum)
    return prop


def _number(description: str) -> dict[str, Any]:
    return {"type": "number", "description": description}


def _boolean(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description}


MEMO_NAME = _string('Memo resource name, e.g. "memos/abc123"')
ATTACHMENT_NAME = _string('Attachment resource name, e.g. "attachments/abc123"')
VISIBILITIES = ("PRIVATE", "PROTECTED", "PUBLIC")
STATES = ("NORMAL", "ARCHIVED")

TOOLS: dict[str, Tool] = {}


def tool(name: str, toolset: str, title: str, description: str, *, required: tuple[str, ...] = (), **options: Any):
    properties = options.pop("properties", {})

    def register(handler: Handler) -> Handler:
        TOOLS[name] = Tool(name, toolset, title, description, properties, required, handler, **options)
        return handler

    return register


def visible_tools(config: ToolConfig) -> list[Tool]:
    return [t for t in TOOLS.values() if config.allows(t)]


async def call_tool(call: Call, tool_: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run a tool: its JSON as text (objects also as ``structuredContent``), or an error result."""
    if not call.config.allows(tool_):
        return error_result(f'tool "{tool_.name}" is not enabled by MCP configuration')
    try:
        value = await tool_.handler(call, arguments)
    except ToolFailure as e:
        return error_result(str(e))
    except ApiError as e:
        return error_result(e.message)
    result: dict[str, Any] = {"content": [{"type": "text", "text": json.dumps(value, ensure_ascii=False)}]}
    if isinstance(value, dict):
        result["structuredContent"] = value
    return result


def error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


# -- arguments -------------------------------------------------------------------------------------
def _arg_str(args: dict[str, Any], key: str, default: str = "") -> str:
    value = args.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ToolFailure(f"{key} must be a string")
    return value


def _required_str(args: dict[str, Any], key: str) -> str:
    value = _arg_str(args, key)
    if not value:
        raise ToolFailure(f"{key} is required")
    return value


def _arg_int(args: dict[str, Any], key: str, default: int) -> int:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ToolFailure(f"{key} must be a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ToolFailure(f"{key} must be a number")
    return int(value)


def _arg_bool(args: dict[str, Any], key: str, default: bool = False) -> bool:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ToolFailure(f"{key} must be a boolean")


def _arg_enum(args: dict[str, Any], key: str, allowed: tuple[str, ...], default: str = "") -> str:
    value = _arg_str(args, key, default) or default
    if value and value not in allowed:
        raise ToolFailure(f"{key} must be {', '.join(allowed[:-1])} or {allowed[-1]}; got {value!r}")
    return value


def _uid(name: str, prefix: str) -> str:
    ident = name.removeprefix(prefix + "/") if name.startswith(prefix + "/") else ""
    if not ident or not UID_RE.fullmatch(ident):
        raise ToolFailure(f'{prefix[:-1]} name must be in the format "{prefix}/<uid>", got {name!r}')
    return ident


def _memo_uid(args: dict[str, Any], key: str = "name") -> str:
    return _uid(_required_str(args, key), "memos")


def _page(args: dict[str, Any]) -> tuple[int, int]:
    """``(page_size, page)``: size 1-100 (default 20), 0-based page."""
    size = _arg_int(args, "page_size", DEFAULT_PAGE_SIZE)
    if size <= 0:
        size = DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE), max(_arg_int(args, "page", 0), 0)


# -- shared lookups ----------------------------------------------------------------------------------
def _signed_in(call: Call) -> Principal:
    if call.viewer is None:
        raise ToolFailure(UNAUTHENTICATED)
    return call.viewer


async def _readable_memo(call: Call, uid: str) -> memos_store.Memo:
    """The memo, if the caller may read it as GetMemo rules say (no admin bypass)."""
    memo = await memos_store.get_memo(call.ctx.store, uid=uid)
    access.check_read(call.viewer, memo)
    return memo


async def _owned_memo(call: Call, uid: str) -> memos_store.Memo:
    """The memo, if the caller created it (upstream's MCP lets only the creator change a memo)."""
    viewer = _signed_in(call)
    memo = await memos_store.get_memo(call.ctx.store, uid=uid)
    access.check_read(viewer, memo)
    if memo.creator_id != viewer.id:
        raise ToolFailure("permission denied: must own the memo")
    return memo


# -- JSON shapes -----------------------------------------------------------------------------------
def _seconds(value: str) -> int:
    return parse_time(value) if value else 0


def memo_out(data: dict[str, Any]) -> dict[str, Any]:
    """API memo JSON -> upstream's MCP memo JSON."""
    out: dict[str, Any] = {
        "name": data["name"],
        "creator": data["creator"],
        "create_time": _seconds(data["createTime"]),
        "update_time": _seconds(data["updateTime"]),
    }
    if data.get("content"):
        out["content"] = data["content"]
    out.update(
        visibility=data["visibility"],
        tags=list(data.get("tags") or []),
        pinned=bool(data.get("pinned")),
        state=data["state"],
    )
    prop = data.get("property") or {}
    flags = {
        "has_link": bool(prop.get("hasLink")),
        "has_task_list": bool(prop.get("hasTaskList")),
        "has_code": bool(prop.get("hasCode")),
        "has_incomplete_tasks": bool(prop.get("hasIncompleteTasks")),
    }
    if any(flags.values()):
        out["property"] = flags
    if data.get("parent"):
        out["parent"] = data["parent"]
    return out


async def attachment_out(call: Call, row: dict[str, Any]) -> dict[str, Any]:
    """An attachment row -> upstream's MCP attachment JSON (API fields through the service's shape)."""
    data = attachment_service.attachment_json(row)
    creator = await users_store.get_user(call.ctx.store, id=row["creator_id"])
    out: dict[str, Any] = {
        "name": data["name"],
        "creator": f"users/{creator.username}" if creator is not None else "",
        "create_time": row["created_ts"],
        "filename": data["filename"],
        "type": data["type"],
        "size": int(row["size"] or 0),
        "storage_type": row["storage_type"] or "DATABASE",
    }
    if data.get("externalLink"):
        out["external_link"] = data["externalLink"]
    if data.get("memo"):
        out["memo"] = data["memo"]
    return out


def reaction_out(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(data["name"].rsplit("/", 1)[-1]),
        "creator": data["creator"],
        "reaction_type": data["reactionType"],
        "create_time": _seconds(data["createTime"]),
    }


def relation_out(data: dict[str, Any]) -> dict[str, Any]:
    return {"memo": data["memo"]["name"], "related_memo": data["relatedMemo"]["name"], "type": data["type"]}


DELETED = {"deleted": True}


# -- memos -----------------------------------------------------------------------------------------
@tool(
    "list_memos",
    "memos",
    "List memos",
    "List memos visible to the caller. Authenticated users see their own memos plus public and protected "
    "memos; unauthenticated callers see only public memos.",
    properties={
        "page_size": _number("Maximum memos to return (1-100, default 20)"),
        "page": _number("Zero-based page index for pagination (default 0)"),
        "state": _string("Filter by state: NORMAL (default) or ARCHIVED", STATES),
        "order_by_pinned": _boolean("When true, pinned memos appear first (default false)"),
        "filter": _string('Optional CEL filter, e.g. content.contains("keyword") or tags.exists(t, t == "work")'),
    },
)
async def list_memos(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    size, page = _page(args)
    state = _arg_enum(args, "state", STATES, "NORMAL")
    order_by = "pinned desc, create_time desc" if _arg_bool(args, "order_by_pinned") else ""
    found = await memo_service.list_memos(
        call.ctx,
        call.viewer,
        page_size=size,
        page_token=encode_page_token(size, page * size) if page else "",
        state=state,
        order_by=order_by,
        filter=_arg_str(args, "filter"),
    )
    return {"memos": [memo_out(m) for m in found["memos"]], "has_more": bool(found["nextPageToken"])}


@tool(
    "get_memo",
    "memos",
    "Get memo",
    "Get a single memo by resource name. Public memos are accessible without authentication.",
    required=("name",),
    properties={"name": MEMO_NAME},
)
async def get_memo(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    return memo_out(await memo_service.get_memo(call.ctx, call.viewer, _memo_uid(args)))


@tool(
    "create_memo",
    "memos",
    "Create memo",
    "Create a new memo. Requires authentication.",
    required=("content",),
    properties={
        "content": _string("Memo content in Markdown. Use #tag syntax for tagging."),
        "visibility": _string("Visibility (default: PRIVATE)", VISIBILITIES),
    },
    mutates=True,
    idempotent=False,
)
async def create_memo(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    viewer = _signed_in(call)
    content = _required_str(args, "content")
    visibility = _arg_enum(args, "visibility", VISIBILITIES, "PRIVATE")
    data = await memo_service.create_memo(call.ctx, viewer, {"content": content, "visibility": visibility})
    return memo_out(data)


@tool(
    "update_memo",
    "memos",
    "Update memo",
    "Update a memo's content, visibility, pin state, or archive state. Requires authentication and "
    "ownership. Omit any field to leave it unchanged.",
    required=("name",),
    properties={
        "name": MEMO_NAME,
        "content": _string("New Markdown content"),
        "visibility": _string("New visibility", VISIBILITIES),
        "pinned": _boolean("Pin or unpin the memo"),
        "state": _string("Set to ARCHIVED to archive, NORMAL to restore", STATES),
    },
    mutates=True,
    destructive=True,
    idempotent=False,
)
async def update_memo(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    memo = await _owned_memo(call, _memo_uid(args))
    body: dict[str, Any] = {}
    if content := _arg_str(args, "content"):
        body["content"] = content
    if visibility := _arg_enum(args, "visibility", VISIBILITIES):
        body["visibility"] = visibility
    if state := _arg_enum(args, "state", STATES):
        body["state"] = state
    if "pinned" in args and args["pinned"] is not None:
        body["pinned"] = _arg_bool(args, "pinned")
    if not body:
        return memo_out(await memo_service.get_memo(call.ctx, call.viewer, memo.uid))
    return memo_out(await memo_service.update_memo(call.ctx, _signed_in(call), memo.uid, body, list(body)))


@tool(
    "delete_memo",
    "memos",
    "Delete memo",
    "Permanently delete a memo. Requires authentication and ownership.",
    required=("name",),
    properties={"name": MEMO_NAME},
    mutates=True,
    destructive=True,
)
async def delete_memo(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    memo = await _owned_memo(call, _memo_uid(args))
    await memo_service.delete_memo(call.ctx, _signed_in(call), memo.uid)
    return DELETED


#: ``search_memos``' name for ListMemos' ranked full-text search (``searchMode=text`` there): the
#: tool's "text" kept upstream's meaning, the query as written anywhere in the content.
WORDS = "words"


def _search_modes(ctx: Context) -> dict[str, Any]:
    """``mode``: substring, ranked words, and the instance's other search modes (plugins add some,
    such as meaning-based search)."""
    ranked = {WORDS: "words, ranked by relevance", **ctx.search_modes.labels()}
    ranked.pop(search_modes.TEXT)
    described = "; ".join(f"{name}: {label}" for name, label in ranked.items())
    return {
        "mode": _string(
            'How to match: "text" (the default) finds memos containing the query as written, newest first; '
            f"the other modes rank memos by relevance, best first ({described})",
            enum=[search_modes.TEXT, *ranked],
        )
    }


@tool(
    "search_memos",
    "memos",
    "Search memos",
    "Search memo content. Authenticated users search their own and visible memos; unauthenticated callers "
    "search public memos only.",
    required=("query",),
    properties={"query": _string("Text to search for in memo content")},
    extra_properties=_search_modes,
)
async def search_memos(call: Call, args: dict[str, Any]) -> list[dict[str, Any]]:
    query = _required_str(args, "query")
    mode = _arg_str(args, "mode") or search_modes.TEXT
    if mode != search_modes.TEXT:
        # A ranked search (ListMemos' ``search`` in that mode): same access rules, best first.
        if mode == WORDS:
            mode = search_modes.TEXT
        elif call.ctx.search_modes.get(mode) is None:
            names = [search_modes.TEXT, WORDS, *call.ctx.search_modes.names()[1:]]
            raise ToolFailure("mode must be one of: " + ", ".join(names))
        found = await memo_service.list_memos(
            call.ctx, call.viewer, page_size=SEARCH_LIMIT, state="NORMAL", search=query, search_mode=mode
        )
        return [memo_out(m) for m in found["memos"]]
    # "text" keeps upstream's substring match, as existing clients expect.
    found = await memo_service.list_memos(
        call.ctx,
        call.viewer,
        page_size=SEARCH_LIMIT,
        state="NORMAL",
        filter=f"content.contains({json.dumps(query, ensure_ascii=False)})",
    )
    return [memo_out(m) for m in found["memos"]]


def _hidden_archived(call: Call, data: dict[str, Any]) -> bool:
    own = call.viewer is not None and data["creator"] == f"users/{call.viewer.user.username}"
    return data["state"] == access.ARCHIVED and not own


@tool(
    "list_memo_comments",
    "memos",
    "List memo comments",
    "List comments on a memo. Visibility rules for comments match those of the parent memo.",
    required=("name",),
    properties={"name": MEMO_NAME},
)
async def list_memo_comments(call: Call, args: dict[str, Any]) -> list[dict[str, Any]]:
    parent = await _readable_memo(call, _memo_uid(args))
    out: list[dict[str, Any]] = []
    token = ""
    while True:
        found = await memo_service.list_comments(
            call.ctx, call.viewer, parent.uid, page_size=_SCAN_PAGE, page_token=token
        )
        out += [memo_out(m) for m in found["memos"] if not _hidden_archived(call, m)]
        token = found["nextPageToken"]
        if not token:
            return out


@tool(
    "create_memo_comment",
    "memos",
    "Create memo comment",
    "Add a comment to a memo. The comment inherits the parent memo's visibility. Requires authentication.",
    required=("name", "content"),
    properties={
        "name": _string('Memo resource name to comment on, e.g. "memos/abc123"'),
        "content": _string("Comment content in Markdown"),
    },
    mutates=True,
    idempotent=False,
)
async def create_memo_comment(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    viewer = _signed_in(call)
    uid = _memo_uid(args)
    content = _required_str(args, "content")
    parent = await _readable_memo(call, uid)
    body = {"content": content, "visibility": parent.visibility}
    return memo_out(await memo_service.create_comment(call.ctx, viewer, parent.uid, body))


# -- tags ------------------------------------------------------------------------------------------
@tool(
    "list_tags",
    "tags",
    "List tags",
    "List all tags with their memo counts. Authenticated users see tags from their own and visible memos; "
    "unauthenticated callers see tags from public memos only. Results are sorted by count descending, "
    "then alphabetically.",
)
async def list_tags(call: Call, args: dict[str, Any]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for stats in (await stats_service.list_all_user_stats(call.ctx, call.viewer))["stats"]:
        counts.update(stats["tagCount"])
    return [{"tag": tag, "count": n} for tag, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


# -- attachments -----------------------------------------------------------------------------------
@tool(
    "list_attachments",
    "attachments",
    "List attachments",
    "List attachments owned by the authenticated user. Supports pagination and optional filtering by linked memo.",
    properties={
        "page_size": _number("Maximum attachments to return (1-100, default 20)"),
        "page": _number("Zero-based page index (default 0)"),
        "memo": _string('Filter by linked memo resource name, e.g. "memos/abc123"'),
    },
)
async def list_attachments(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    viewer = _signed_in(call)
    size, page = _page(args)
    filter_ = ""
    if memo_name := _arg_str(args, "memo"):
        memo = await memos_store.get_memo(call.ctx.store, uid=_uid(memo_name, "memos"))
        if memo is None:
            raise ToolFailure("memo not found")
        filter_ = f"memo_id == {memo.id}"
    found = await attachment_service.list_attachments(
        call.ctx, viewer, page_size=size + 1, page_token=str(page * size) if page else "", filter=filter_
    )
    uids = [a["name"].removeprefix("attachments/") for a in found["attachments"]]
    rows = await attachments_store.get_many(call.ctx.store, uids[:size])
    out = [await attachment_out(call, rows[uid]) for uid in uids[:size] if uid in rows]
    return {"attachments": out, "has_more": len(uids) > size}


async def _readable_attachment(call: Call, uid: str) -> dict[str, Any]:
    """The attachment row, if the caller may read it: the service's rule, then no admin bypass (an
    unlinked attachment is its creator's; a linked one follows its memo as GetMemo does)."""
    row = await attachment_service.readable(call.ctx, call.viewer, uid)
    if call.viewer is not None and row["creator_id"] == call.viewer.id:
        return row
    if row["memo_id"] is None:
        raise ToolFailure("permission denied")
    access.check_read(call.viewer, await memos_store.get_memo(call.ctx.store, id=row["memo_id"]))
    return row


@tool(
    "get_attachment",
    "attachments",
    "Get attachment",
    "Get a single attachment's metadata by resource name. Requires authentication.",
    required=("name",),
    properties={"name": ATTACHMENT_NAME},
)
async def get_attachment(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    uid = _uid(_required_str(args, "name"), "attachments")
    return await attachment_out(call, await _readable_attachment(call, uid))


@tool(
    "delete_attachment",
    "attachments",
    "Delete attachment",
    "Permanently delete an attachment and its stored file. Requires authentication and ownership.",
    required=("name",),
    properties={"name": ATTACHMENT_NAME},
    mutates=True,
    destructive=True,
)
async def delete_attachment(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    viewer = _signed_in(call)
    await attachment_service.delete_attachment(call.ctx, viewer, _uid(_required_str(args, "name"), "attachments"))
    return DELETED


@tool(
    "link_attachment_to_memo",
    "attachments",
    "Link attachment to memo",
    "Link an existing attachment to a memo. Requires authentication and ownership of the attachment.",
    required=("name", "memo"),
    properties={"name": ATTACHMENT_NAME, "memo": MEMO_NAME},
    mutates=True,
    destructive=True,
    idempotent=False,
)
async def link_attachment_to_memo(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    viewer = _signed_in(call)
    uid = _uid(_required_str(args, "name"), "attachments")
    memo_uid = _memo_uid(args, "memo")
    row = await attachment_service.readable(call.ctx, viewer, uid)
    if row["creator_id"] != viewer.id:
        raise ToolFailure("permission denied")
    memo = await memos_store.get_memo(call.ctx.store, uid=memo_uid)
    if memo is None:
        raise ToolFailure("memo not found")
    current = (await attachment_service.list_memo_attachments(call.ctx, viewer, memo_uid))["attachments"]
    names = [a["name"] for a in current]
    if f"attachments/{uid}" not in names:
        names.append(f"attachments/{uid}")
        body = {"attachments": [{"name": n} for n in names]}
        await attachment_service.set_memo_attachments(call.ctx, viewer, memo_uid, body)
    return await attachment_out(call, await attachment_service.readable(call.ctx, viewer, uid))


# -- relations -------------------------------------------------------------------------------------
RELATION_TYPES = ("REFERENCE", "COMMENT")


@tool(
    "list_memo_relations",
    "relations",
    "List memo relations",
    "List all relations (references and comments) for a memo. Requires read access to the memo.",
    required=("name",),
    properties={"name": MEMO_NAME, "type": _string("Filter by relation type (optional)", RELATION_TYPES)},
)
async def list_memo_relations(call: Call, args: dict[str, Any]) -> list[dict[str, Any]]:
    memo = await _readable_memo(call, _memo_uid(args))
    kind = _arg_enum(args, "type", RELATION_TYPES)
    found = await memo_service.list_relations(call.ctx, call.viewer, memo.uid)
    return [relation_out(r) for r in found["relations"] if not kind or r["type"] == kind]


async def _references(call: Call, memo: memos_store.Memo) -> list[str]:
    """The uids ``memo`` references now, whoever may see them (a rewrite must keep them all)."""
    rels = await memos_store.relations_for(call.ctx.store, [memo.id], lambda _table: sa.true())
    return [r.related_uid for r in rels if r.memo_id == memo.id and r.type == "REFERENCE"]


async def _set_references(call: Call, memo: memos_store.Memo, uids: list[str]) -> None:
    body = {"relations": [{"relatedMemo": {"name": f"memos/{u}"}, "type": "REFERENCE"} for u in uids]}
    await memo_service.set_relations(call.ctx, _signed_in(call), memo.uid, body)


async def _relation_ends(call: Call, args: dict[str, Any]) -> tuple[memos_store.Memo, memos_store.Memo]:
    source_uid, target_uid = _memo_uid(args), _memo_uid(args, "related_memo")
    source = await _owned_memo(call, source_uid)
    target = await memos_store.get_memo(call.ctx.store, uid=target_uid)
    if target is None:
        raise ToolFailure("related memo not found")
    access.check_read(call.viewer, target)
    return source, target


@tool(
    "create_memo_relation",
    "relations",
    "Create memo relation",
    "Create a reference relation between two memos. Requires authentication. For comments, use "
    "create_memo_comment instead.",
    required=("name", "related_memo"),
    properties={
        "name": _string('Source memo resource name, e.g. "memos/abc123"'),
        "related_memo": _string('Target memo resource name, e.g. "memos/def456"'),
    },
    mutates=True,
)
async def create_memo_relation(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    if _memo_uid(args) == _memo_uid(args, "related_memo"):
        raise ToolFailure("cannot create a relation from a memo to itself")
    source, target = await _relation_ends(call, args)
    current = await _references(call, source)
    if target.uid not in current:
        await _set_references(call, source, [*current, target.uid])
    return {"memo": source.name, "related_memo": target.name, "type": "REFERENCE"}


@tool(
    "delete_memo_relation",
    "relations",
    "Delete memo relation",
    "Delete a reference relation between two memos. Requires authentication and ownership of the source memo.",
    required=("name", "related_memo"),
    properties={
        "name": _string('Source memo resource name, e.g. "memos/abc123"'),
        "related_memo": _string('Target memo resource name, e.g. "memos/def456"'),
    },
    mutates=True,
    destructive=True,
    idempotent=False,
)
async def delete_memo_relation(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    source, target = await _relation_ends(call, args)
    current = await _references(call, source)
    if target.uid in current:
        await _set_references(call, source, [u for u in current if u != target.uid])
    return DELETED


# -- reactions -------------------------------------------------------------------------------------
@tool(
    "list_reactions",
    "reactions",
    "List reactions",
    "List all reactions on a memo. Returns reaction type and creator for each reaction.",
    required=("name",),
    properties={"name": MEMO_NAME},
)
async def list_reactions(call: Call, args: dict[str, Any]) -> list[dict[str, Any]]:
    memo = await _readable_memo(call, _memo_uid(args))
    found = await memo_service.list_reactions(call.ctx, call.viewer, memo.uid)
    return [reaction_out(r) for r in found["reactions"]]


@tool(
    "upsert_reaction",
    "reactions",
    "Upsert reaction",
    "Add a reaction (emoji) to a memo. If the same reaction already exists from the same user, this is a "
    "no-op. Requires authentication.",
    required=("name", "reaction_type"),
    properties={"name": MEMO_NAME, "reaction_type": _string('Reaction emoji, e.g. "👍", "❤️", "🎉"')},
    mutates=True,
)
async def upsert_reaction(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    viewer = _signed_in(call)
    uid = _memo_uid(args)
    reaction_type = _required_str(args, "reaction_type")
    memo = await _readable_memo(call, uid)
    allowed = (await instance.memo_related(call.ctx.store)).get("reactions") or []
    if reaction_type not in allowed:
        quoted = json.dumps(reaction_type, ensure_ascii=False)
        raise ToolFailure(f"reaction {quoted} is not in the allowed reaction list")
    body = {"reaction": {"contentId": memo.name, "reactionType": reaction_type}}
    return reaction_out(await memo_service.upsert_reaction(call.ctx, viewer, memo.uid, body))


@tool(
    "delete_reaction",
    "reactions",
    "Delete reaction",
    "Remove a reaction by its ID. Requires authentication and ownership of the reaction.",
    required=("id",),
    properties={"id": _number("Reaction ID to delete")},
    mutates=True,
    destructive=True,
)
async def delete_reaction(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    viewer = _signed_in(call)
    reaction_id = _arg_int(args, "id", 0)
    if reaction_id <= 0:
        raise ToolFailure("id is required")
    reaction = await memos_store.get_reaction(call.ctx.store, id=reaction_id)
    if reaction is None:
        raise ToolFailure("reaction not found")
    if reaction.creator_id != viewer.id:
        raise ToolFailure("permission denied: can only delete your own reactions")
    uid = reaction.content_id.removeprefix("memos/")
    await memo_service.delete_reaction(call.ctx, viewer, uid, str(reaction_id))
    return DELETED
