"""IdentityProviderService and linked identities.

OAuth2 identity providers, and the provider accounts linked to users.
"""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import idp as service
from ...wire import required_mask
from .jsonutil import json_body, json_response, query_param, update_mask

routes = web.RouteTableDef()

_IDPS = "/identity-providers"
_IDP = _IDPS + "/{idp:[^/:]+}"
_LINKS = "/users/{user:[^/:]+}/linkedIdentities"
_LINK = _LINKS + "/{provider:[^/:]+}"


# -- identity providers ---------------------------------------------------------------------------
@routes.get(_IDPS, name="IdentityProviderService.ListIdentityProviders")
async def list_identity_providers(request: web.Request) -> web.Response:
    return json_response({"identityProviders": await service.list_identity_providers(context_of(request))})


@routes.post(_IDPS, name="IdentityProviderService.CreateIdentityProvider")
async def create_identity_provider(request: web.Request) -> web.Response:
    body = await json_body(request)
    idp_id = query_param(request, "identityProviderId", "identity_provider_id")
    data = await service.create_identity_provider(context_of(request), viewer_of(request), body, idp_id)
    return json_response(data)


@routes.get(_IDP, name="IdentityProviderService.GetIdentityProvider")
async def get_identity_provider(request: web.Request) -> web.Response:
    return json_response(await service.get_identity_provider(context_of(request), request.match_info["idp"]))


@routes.patch(_IDP, name="IdentityProviderService.UpdateIdentityProvider")
async def update_identity_provider(request: web.Request) -> web.Response:
    body = await json_body(request)
    mask = update_mask(request, body)
    body.pop("updateMask", None)
    body.pop("update_mask", None)
    mask = required_mask(mask, body)  # omitted: the body's fields (name, type: ignored paths)
    ctx, viewer = context_of(request), viewer_of(request)
    data = await service.update_identity_provider(ctx, viewer, request.match_info["idp"], body, mask)
    return json_response(data)


@routes.delete(_IDP, name="IdentityProviderService.DeleteIdentityProvider")
async def delete_identity_provider(request: web.Request) -> web.Response:
    await service.delete_identity_provider(context_of(request), viewer_of(request), request.match_info["idp"])
    return json_response({})


# -- linked identities ----------------------------------------------------------------------------
@routes.get(_LINKS, name="UserService.ListLinkedIdentities")
async def list_linked_identities(request: web.Request) -> web.Response:
    items = await service.list_linked_identities(context_of(request), viewer_of(request), request.match_info["user"])
    return json_response({"linkedIdentities": items})


@routes.post(_LINKS, name="UserService.CreateLinkedIdentity")
async def create_linked_identity(request: web.Request) -> web.Response:
    body = await json_body(request)
    data = await service.create_linked_identity(
        context_of(request), viewer_of(request), request.match_info["user"], body
    )
    return json_response(data)


@routes.get(_LINK, name="UserService.GetLinkedIdentity")
async def get_linked_identity(request: web.Request) -> web.Response:
    m = request.match_info
    return json_response(
        await service.get_linked_identity(context_of(request), viewer_of(request), m["user"], m["provider"])
    )


@routes.delete(_LINK, name="UserService.DeleteLinkedIdentity")
async def delete_linked_identity(request: web.Request) -> web.Response:
    m = request.match_info
    await service.delete_linked_identity(context_of(request), viewer_of(request), m["user"], m["provider"])
    return json_response({})
