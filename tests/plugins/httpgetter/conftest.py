"""Fixtures of the httpgetter tests: local sites (see ``fixtures.link_sites``) and a scripted resolver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fixtures.link_sites import ScriptedResolver, Site, standard_site


@pytest.fixture
async def site(aiohttp_server) -> Site:
    """The standard site, running; tests may add pages before they fetch."""
    site = standard_site()
    site.server = await aiohttp_server(site.app)
    return site


@pytest.fixture
def start_site(aiohttp_server) -> Callable[..., Any]:
    """``await start_site(site, host=..., port=...)``: run another site (an "internal" service)."""

    async def start(site: Site, **kwargs: Any) -> Site:
        site.server = await aiohttp_server(site.app, **kwargs)
        return site

    return start


@pytest.fixture
def scripted_resolver() -> type[ScriptedResolver]:
    return ScriptedResolver
