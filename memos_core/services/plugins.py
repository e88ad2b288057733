"""What the plugin manager loaded, for administrators (a memos-py extension, no upstream RPC)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import denied
from ..hookspecs import HOOKSPEC_VERSION

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context


def list_plugins(ctx: Context, viewer: Principal | None) -> dict[str, Any]:
    """The hook contract version and each loaded driver and plugin (name, distribution, version,
    hooks, and what it registered, as ``memos plugins --json`` lists them). Anyone but an admin is
    refused with 403, as the listing names the server's software."""
    if viewer is None or not viewer.is_admin:
        raise denied("only admins may list plugins")
    return {"hookspecVersion": HOOKSPEC_VERSION, "plugins": ctx.plugins.to_json(ctx.registries)}
