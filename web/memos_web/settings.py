"""The settings page's frame: sections registered by id, drawn on one page, one shown per ``#hash``.

Each section is a template under ``templates/settings/`` plus an async loader returning what the
template needs. ``GET /setting`` loads every section the viewer may see and draws them together;
CSS ``:target`` shows the one named by the URL's hash (the first one without a hash), so the page
works without JavaScript, and a menu (a list on wide screens, a select on phones) switches.

A section's forms post to its own routes; a handler answers with :func:`saved` (a 303 back to
``/setting?saved=<id>#<id>``) or, when the service refuses, with :func:`form_error`, which draws
the page again with the message beside the form and what was typed kept in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from memos_core import ApiError, Code, viewer_of

from . import plugin_ui
from .i18n import gettext
from .render import render
from .security import csrf_token, signed_in

Loader = Callable[[web.Request], Awaitable[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Section:
    id: str
    title: str
    template: str
    load: Loader
    admin: bool = False
    group: str = "account"  # "account" or "admin": the menu's two headings


SECTIONS: list[Section] = []


def section(id: str, title: str, *, admin: bool = False, template: str | None = None) -> Callable[[Loader], Loader]:
    """Register a settings section; the decorated coroutine loads its template's data."""

    def register(load: Loader) -> Loader:
        if any(s.id == id for s in SECTIONS):
            raise ValueError(f"settings section {id!r} is registered twice")
        SECTIONS.append(
            Section(
                id,
                title,
                template or f"settings/{id}.html",
                load,
                admin=admin,
                group="admin" if admin else "account",
            )
        )
        return load

    return register


def visible_sections(request: web.Request) -> list[Section]:
    viewer = viewer_of(request)
    return [s for s in SECTIONS if not s.admin or (viewer is not None and viewer.is_admin)]


def require_section(request: web.Request, section_id: str) -> Section:
    """The section a form handler belongs to; a non-admin reaching an admin section is refused (403)."""
    viewer = signed_in(request)
    found = next((s for s in SECTIONS if s.id == section_id), None)
    if found is None:
        raise web.HTTPNotFound()
    if found.admin and not viewer.is_admin:
        raise ApiError(Code.PERMISSION_DENIED, gettext("only administrators may change this setting"))
    return found


async def settings_page(
    request: web.Request,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    typed: dict[str, Any] | None = None,
) -> web.Response:
    """The whole page. ``errors``/``typed`` map a section id to its message / the form values to keep."""
    signed_in(request)
    sections = visible_sections(request)
    data: dict[str, dict[str, Any]] = {}
    for s in sections:
        data[s.id] = await s.load(request)
    for s, d in await plugin_sections(request):
        sections.append(s)
        data[s.id] = d
    return await render(
        request,
        "settings/index.html",
        {
            "sections": sections,
            "section_data": data,
            "errors": errors or {},
            "typed": typed or {},
            "saved": request.query.get("saved", ""),
        },
        status=status,
    )


#: Element ids of the page's frame, which a plugin's section id must not take.
_FRAME_IDS = frozenset({"main", "nav", "sidebar", "toast", "theme-choice"})


async def plugin_sections(request: web.Request) -> list[tuple[Section, dict[str, Any]]]:
    """Sections plugins add (hook ``memos_web_settings_sections``) with their data: their HTML,
    drawn by one template. Their forms post to the plugins' own routes, which answer with a 303 to
    ``/setting?saved=<id>#<id>`` as :func:`saved` does."""
    taken = {s.id for s in SECTIONS} | _FRAME_IDS
    found = await plugin_ui.settings_sections(request, csrf_token(request), taken)
    return [
        (
            Section(
                p["id"],
                p["title"],
                "settings/plugin_section.html",
                _no_loader,
                admin=p["admin"],
                group="admin" if p["admin"] else "account",
            ),
            {"html": p["html"]},
        )
        for p in found
    ]


async def _no_loader(request: web.Request) -> dict[str, Any]:
    return {}  # a plugin's section arrives with its HTML; nothing to load


def saved(section_id: str) -> web.HTTPSeeOther:
    """After a successful change: back to the section, which says it saved."""
    return web.HTTPSeeOther(f"/setting?saved={section_id}#{section_id}")


async def form_error(
    request: web.Request, section_id: str, error: ApiError | str, typed: dict[str, Any]
) -> web.Response:
    """The page again, the message beside the section's form, what was typed kept (never secrets:
    callers leave passwords and keys out of ``typed``). In a section with several forms,
    ``typed["form"]`` names the one that was sent: its template draws the message beside that form,
    and the section's head leaves it out."""
    message = error.message if isinstance(error, ApiError) else error
    status = (error.status or error.code.http_status) if isinstance(error, ApiError) else 400
    return await settings_page(request, status=status, errors={section_id: message}, typed={section_id: typed})


routes = web.RouteTableDef()


@routes.get("/setting", name="web.setting")
async def setting(request: web.Request) -> web.StreamResponse:
    wanted = request.query.get("section", "")
    if wanted:  # the phone menu's select, submitted without JavaScript
        if any(s.id == wanted and s.admin for s in SECTIONS):
            require_section(request, wanted)  # a non-admin asking for an admin section: 403
        ids = {s.id for s in visible_sections(request)} | {s.id for s, _ in await plugin_sections(request)}
        raise web.HTTPSeeOther(f"/setting#{wanted}" if wanted in ids else "/setting")
    return await settings_page(request)
