"""The MCP methods: lifecycle, tools, resources, prompts (server "Memos" 1.0.0)."""

from __future__ import annotations

import logging
from typing import Any

from . import prompts, resources
from .protocol import (
    INTERNAL_ERROR,
    SERVER_NAME,
    SERVER_VERSION,
    Message,
    Method,
    RpcError,
    dispatch,
    invalid_params,
    negotiate_version,
)
from .tools import TOOLS, Call, call_tool, visible_tools

log = logging.getLogger(__name__)

#: Nothing here changes while the server runs, and there are no subscriptions to serve.
CAPABILITIES = {
    "logging": {},
    "prompts": {"listChanged": False},
    "resources": {"subscribe": False, "listChanged": False},
    "tools": {"listChanged": False},
}
LOG_LEVELS = frozenset({"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"})


async def initialize(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocolVersion": negotiate_version(params.get("protocolVersion")),
        "capabilities": CAPABILITIES,
        "serverInfo": {"name": SERVER_NAME, "version": SERVER_VERSION},
    }


async def ping(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {}


async def set_log_level(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("level") not in LOG_LEVELS:
        raise invalid_params("level must be one of " + ", ".join(sorted(LOG_LEVELS)))
    return {}  # nothing is logged to clients, whatever the level


async def list_tools(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [t.to_json(call.ctx) for t in visible_tools(call.config)]}


async def tools_call(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise invalid_params("tool name is required")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise invalid_params("tool arguments must be an object")
    tool = TOOLS.get(name)
    if tool is None:
        raise invalid_params(f"tool '{name}' not found")
    return await call_tool(call, tool, arguments)


async def list_resources(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"resources": []}  # every memo is reachable through the template, none is listed


async def list_resource_templates(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"resourceTemplates": [resources.TEMPLATE]}


async def read_resource(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    uri = params.get("uri")
    if not isinstance(uri, str) or not uri:
        raise invalid_params("uri is required")
    return await resources.read(call, uri)


async def list_prompts(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return {"prompts": [p.to_json() for p in prompts.PROMPTS.values()]}


async def get_prompt(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return prompts.get(params.get("name"), params.get("arguments"))


METHODS: dict[str, Method] = {
    "initialize": initialize,
    "ping": ping,
    "logging/setLevel": set_log_level,
    "tools/list": list_tools,
    "tools/call": tools_call,
    "resources/list": list_resources,
    "resources/templates/list": list_resource_templates,
    "resources/read": read_resource,
    "prompts/list": list_prompts,
    "prompts/get": get_prompt,
}


async def handle(call: Call, message: Message) -> dict[str, Any] | None:
    """Answer one message; an unexpected failure is a JSON-RPC internal error, never a broken reply."""
    try:
        return await dispatch(METHODS, call, message)
    except Exception:
        log.exception("MCP method %s failed", message.method)
        return {"jsonrpc": "2.0", "id": message.id, "error": RpcError(INTERNAL_ERROR, "internal error").to_json()}
