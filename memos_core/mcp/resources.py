"""The memo resource, ``memo://memos/{uid}``: the memo as Markdown under a YAML front-matter header.

Readable by whoever may read the memo (GetMemo's rule through the memo service). A URI outside
the template is "resource not found" (-32002); a memo the caller may not read is an error too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError, Code
from ..services import memos as memo_service
from ..wire import UID_RE
from .protocol import INTERNAL_ERROR, RESOURCE_NOT_FOUND, RpcError
from .tools import memo_out

if TYPE_CHECKING:
    from .tools import Call

SCHEME = "memo://memos/"
MIME_TYPE = "text/markdown"
TEMPLATE = {
    "uriTemplate": SCHEME + "{uid}",
    "name": "Memo",
    "description": "A single Memos note identified by its UID. Returns the memo content as Markdown with a "
    "YAML frontmatter header containing metadata.",
    "mimeType": MIME_TYPE,
}


def _yaml_scalar(value: str) -> str:
    """A plain YAML scalar when safe, else a double-quoted one (tags may hold ``:``, ``#`` ...)."""
    plain = value and value.strip() == value and not any(c in value for c in ":#,[]{}&*!|>'\"%@`\n\\")
    if plain and value.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "~"):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def memo_markdown(memo: dict[str, Any]) -> str:
    """The MCP memo JSON (see :func:`memo_out`) as front-matter + content."""
    lines = [
        "---",
        f"name: {memo['name']}",
        f"creator: {memo['creator']}",
        f"visibility: {memo['visibility']}",
        f"state: {memo['state']}",
        f"pinned: {'true' if memo['pinned'] else 'false'}",
    ]
    if memo["tags"]:
        lines.append(f"tags: [{', '.join(_yaml_scalar(t) for t in memo['tags'])}]")
    lines += [f"create_time: {memo['create_time']}", f"update_time: {memo['update_time']}"]
    if memo.get("parent"):
        lines.append(f"parent: {memo['parent']}")
    lines += ["---", "", memo.get("content", "")]
    return "\n".join(lines)


async def read(call: Call, uri: str) -> dict[str, Any]:
    uid = uri.removeprefix(SCHEME) if uri.startswith(SCHEME) else ""
    if not uid or not UID_RE.fullmatch(uid):
        raise RpcError(RESOURCE_NOT_FOUND, f"resource not found: {uri}", {"uri": uri})
    try:
        data = await memo_service.get_memo(call.ctx, call.viewer, uid)
    except ApiError as e:
        if e.code == Code.NOT_FOUND:
            raise RpcError(RESOURCE_NOT_FOUND, f"memo not found: {uid}", {"uri": uri}) from None
        raise RpcError(INTERNAL_ERROR, e.message) from None
    return {"contents": [{"uri": uri, "mimeType": MIME_TYPE, "text": memo_markdown(memo_out(data))}]}
