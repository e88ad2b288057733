"""JSON-RPC 2.0 for MCP: message parsing, error objects and the method table.

Only what the Streamable HTTP transport needs: one message per POST (no batches, which MCP
2025-06-18 dropped), requests answered with a result or an error, notifications acknowledged
without one. The methods themselves live in :mod:`.server`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

# JSON-RPC 2.0 error codes, and MCP's "resource not found".
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

#: Newest first; an unknown version asked for in ``initialize`` is answered with the newest.
PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")
LATEST_PROTOCOL_VERSION = PROTOCOL_VERSIONS[0]

SERVER_NAME = "Memos"
SERVER_VERSION = "1.0.0"


class RpcError(Exception):
    """Raised by a method to answer with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


@dataclasses.dataclass(frozen=True)
class Message:
    """One incoming JSON-RPC message. ``id`` is absent for notifications (and for responses a client
    sends back, which this server never asks for)."""

    method: str
    params: dict[str, Any]
    id: Any = None
    has_id: bool = False

    @property
    def is_notification(self) -> bool:
        return not self.has_id


def error_response(id_: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": error.to_json()}


def result_response(id_: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "result": result}


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def parse_message(data: Any) -> Message | None:
    """A request or notification, or ``None`` for a client's response/error message (ignored).

    ``data`` is the decoded body (:func:`memos_core.jsonbody.decode` answers PARSE_ERROR for text
    that is not acceptable JSON). Raises :class:`RpcError` with INVALID_REQUEST for a value that is
    not a JSON-RPC 2.0 message.
    """
    if isinstance(data, list):
        raise RpcError(INVALID_REQUEST, "batch requests are not supported")
    if not isinstance(data, dict):
        raise RpcError(INVALID_REQUEST, "a JSON-RPC message must be an object")
    if data.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "invalid JSON-RPC version: must be 2.0")
    method = data.get("method")
    if method is None and "id" in data and ("result" in data or "error" in data):
        return None  # a response to a server request: there are none, so nothing to match
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "method must be a non-empty string")
    has_id = "id" in data
    if has_id and not _valid_id(data["id"]):
        raise RpcError(INVALID_REQUEST, "id must be a string, a number or null")
    params = data.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object")
    return Message(method=method, params=params, id=data.get("id"), has_id=has_id)


def request_id_of(data: Any) -> Any:
    """The ``id`` of a message that failed validation, for its error response (``None`` if unknown)."""
    if isinstance(data, dict) and _valid_id(data.get("id")):
        return data.get("id")
    return None


def negotiate_version(requested: Any) -> str:
    """The protocol version to answer ``initialize`` with: the client's if supported, else the newest."""
    return requested if requested in PROTOCOL_VERSIONS else LATEST_PROTOCOL_VERSION


Method = Callable[[Any, dict[str, Any]], Awaitable[Any]]


async def dispatch(methods: dict[str, Method], call: Any, message: Message) -> dict[str, Any] | None:
    """Run one message; the response object, or ``None`` for a notification."""
    if message.is_notification:
        # ``notifications/initialized`` and ``notifications/cancelled`` need nothing from a server that
        # keeps no per-session state and answers every request before the POST returns; a request
        # method sent without an id is not run (there would be no way to tell the client the outcome).
        return None
    handler = methods.get(message.method)
    if handler is None:
        return error_response(message.id, RpcError(METHOD_NOT_FOUND, f"Method {message.method} not found"))
    try:
        result = await handler(call, message.params)
    except RpcError as e:
        return error_response(message.id, e)
    return result_response(message.id, result)
