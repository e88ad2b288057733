"""IdentityProviderService and linked identities (SPEC §10, §5.8).

OAuth2 identity providers, and the provider accounts linked to users.
"""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
