"""The Memos error shape: gRPC status codes carried over HTTP as ``{"code","message","details"}``."""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import MatchInfoError

log = logging.getLogger(__name__)


class Code(enum.IntEnum):
    """gRPC status codes; the value is what clients see in ``code``."""

    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
    Code.UNAVAILABLE: 503,
}


class ApiError(Exception):
    """Raised anywhere below a handler; the error middleware turns it into the Memos error body."""

    def __init__(
        self, code: Code, message: str, *, headers: dict[str, str] | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.status = status  # an HTTP status other than the code's own (413 for a body too large)


def invalid(message: str) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, message)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(Code.NOT_FOUND, message)


def denied(message: str = "permission denied") -> ApiError:
    return ApiError(Code.PERMISSION_DENIED, message)


def unauthenticated(message: str = "user not authenticated") -> ApiError:
    return ApiError(Code.UNAUTHENTICATED, message)


def already_exists(message: str) -> ApiError:
    return ApiError(Code.ALREADY_EXISTS, message)


def error_response(
    code: Code, message: str, headers: dict[str, str] | None = None, *, status: int | None = None
) -> web.Response:
    body = json.dumps({"code": int(code), "message": message, "details": []})
    resp = web.Response(status=status or code.http_status, text=body, content_type="application/json")
    if code is Code.UNAUTHENTICATED:
        resp.headers["WWW-Authenticate"] = message
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


#: A known path asked with a method it does not serve. Upstream's REST gateway answers these with
#: code 12 and HTTP 501; memos-py keeps the code and message but answers 405 with ``Allow``, as HTTP
#: asks, on every route.
METHOD_NOT_ALLOWED = "Method Not Allowed"


def method_not_allowed(allowed: Iterable[str], headers: dict[str, str] | None = None) -> web.Response:
    """405, code 12, with ``Allow`` listing the methods the path does serve."""
    resp = error_response(Code.UNIMPLEMENTED, METHOD_NOT_ALLOWED, headers, status=405)
    resp.headers[hdrs.ALLOW] = ", ".join(sorted(allowed))
    return resp


_HTTP_CODES = {
    400: Code.INVALID_ARGUMENT,
    404: Code.NOT_FOUND,
    413: Code.RESOURCE_EXHAUSTED,
    429: Code.RESOURCE_EXHAUSTED,
}


def http_error_response(e: web.HTTPException) -> web.Response:
    """aiohttp's own errors (the router's 404 and 405, the body size limit) in the Memos shape.

    Every middleware that turns failures into Memos errors goes through here, so a wrong method or
    an unknown path answers alike on the API, the file server and the other routes.
    """
    if isinstance(e, web.HTTPMethodNotAllowed):
        return method_not_allowed(e.allowed_methods)
    if isinstance(e, web.HTTPNotFound):
        return error_response(Code.NOT_FOUND, "Not Found")
    if isinstance(e, web.HTTPRequestEntityTooLarge):
        return error_response(Code.RESOURCE_EXHAUSTED, "request body too large", status=413)
    return error_response(_HTTP_CODES.get(e.status, Code.UNKNOWN), e.reason, status=e.status)


def api_error_response(e: ApiError) -> web.Response:
    return error_response(e.code, e.message, e.headers, status=e.status)


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Every failure under ``/api/v1`` answers in the Memos error shape, never an HTML page."""
    try:
        return await handler(request)
    except ApiError as e:
        return api_error_response(e)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed, web.HTTPRequestEntityTooLarge) as e:
        return http_error_response(e)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(Code.INTERNAL, "internal error")


@web.middleware
async def routing_error_middleware(request: web.Request, handler):
    """The application's outermost middleware: an unknown path or a wrong method on the routes that
    have no error middleware of their own (RSS, avatars, health, plugins' routes) answers in the
    Memos shape too, not aiohttp's plain text. Errors a handler raises itself pass unchanged."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as e:
        if not isinstance(request.match_info, MatchInfoError):
            raise
        return http_error_response(e)
