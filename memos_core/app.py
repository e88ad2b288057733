"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiohttp import web

from .api.v1 import create_api_app
from .api.v1.jsonutil import has_nul
from .avatar import routes as avatar_routes
from .backup import guard_migrations
from .config import Config
from .context import CONTEXT, Context
from .cors import add_cors_headers, preflight_middleware
from .errors import Code, error_response, routing_error_middleware
from .fileserver import create_file_app
from .handlers import needs_db_connection
from .jsonbody import MAX_BODY_BYTES, NUL_MESSAGE
from .live import LiveHub
from .mcp import routes as mcp_routes
from .observe import install as install_observability
from .observe import middleware as observe_middleware
from .plugins import Plugins, call_sync, load_plugins
from .response_cache import install as install_response_cache
from .response_cache import response_cache_middleware
from .robots import routes as robots_routes
from .rss import routes as rss_routes
from .store import Store
from .store import search as search_store
from .store.connect import connect_when_reachable

log = logging.getLogger(__name__)


@web.middleware
async def reject_nul_middleware(request: web.Request, handler):
    """U+0000 in the path or query is a 400 on every route: PostgreSQL cannot even compare it."""
    if has_nul(request):
        return error_response(Code.INVALID_ARGUMENT, NUL_MESSAGE)
    return await handler(request)


@web.middleware
async def connection_middleware(request: web.Request, handler):
    """Hold one database connection for the whole request (never a new one per query)."""
    if not needs_db_connection(request):
        return await handler(request)
    async with request.config_dict[CONTEXT].store.connection():
        return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="Service ready.")


def create_app(config: Config | None = None, *, plugins: Plugins | None = None, extra_plugins: Iterable[Any] = ()):
    """Build the aiohttp application: load plugins, wire the store, mount the API."""
    config = config or Config.from_env()
    plugins = plugins or load_plugins(config, extra=extra_plugins)
    store = guard_migrations(Store(plugins.driver))  # a backup before any schema upgrade
    ctx = Context(config=config, plugins=plugins, store=store)
    ctx.live = LiveHub(store, config.live_poll_interval)

    app = web.Application(
        middlewares=[
            observe_middleware(config),
            preflight_middleware,  # CORS for every path under /api/v1/, plugins' routes included
            routing_error_middleware,
            reject_nul_middleware,
            response_cache_middleware,  # before a connection is taken: a kept answer needs none
            connection_middleware,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app.on_response_prepare.append(add_cors_headers)
    ctx.app = app
    app[CONTEXT] = ctx
    app[SEARCH_CATCH_UP] = SearchCatchUp()
    app.cleanup_ctx.append(_registries_ctx)  # first: a bad registration stops start-up before anything opens
    app.cleanup_ctx.append(_store_ctx)
    app.on_shutdown.append(ctx.live.close)  # end SSE streams first, or shutdown waits for their clients
    for cleanup in call_sync(plugins.pm, "memos_cleanup_ctx", app=app):
        app.cleanup_ctx.append(cleanup)

    app.router.add_get("/healthz", healthz)
    install_observability(app, config)  # GET /metrics and the X-Request-Id echo
    api = create_api_app()
    install_response_cache(app, ctx)
    app.add_subapp("/api/v1", api)
    app.add_subapp("/file/attachments", create_file_app(ctx))
    app.router.add_routes(avatar_routes)
    app.router.add_routes(rss_routes)
    app.router.add_routes(robots_routes)
    app.router.add_routes(mcp_routes)
    call_sync(plugins.pm, "memos_register_routes", app=app)
    ctx.storages  # noqa: B018 - collect storage backends now, so a bad registration fails start-up
    ctx.search_modes  # noqa: B018 - and search modes (the other registries may be async: see _registries_ctx)
    return app


async def _registries_ctx(app: web.Application) -> AsyncIterator[None]:
    """Collect the registries whose implementations may be async (sign-in providers, jobs), once."""
    await app[CONTEXT].collect_registries()
    yield


@contextlib.asynccontextmanager
async def started(config: Config) -> AsyncIterator[Context]:
    """The app built from ``config``, started as the server starts it (database connected and
    migrated, every plugin's resources open: S3 clients, webhook delivery) but serving no socket and
    starting no background work (``Context.serving`` is false), for commands that act through the
    services; shut down as the server shuts down on exit."""
    app = create_app(config)
    app[CONTEXT].serving = False
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    try:
        await runner.setup()  # a failed start-up is undone by cleanup, as run() does
        yield app[CONTEXT]
    finally:
        await runner.cleanup()


def run(
    app: web.Application,
    listen: Callable[[web.AppRunner], Iterable[web.BaseSite]],
    *,
    ready: Callable[[], None] | None = None,
    **runner_options: Any,
) -> None:
    """Serve ``app`` on the sites ``listen`` makes until SIGTERM or SIGINT, then shut down gracefully.

    This is aiohttp's ``run_app`` with one difference: a start-up that fails or is interrupted by a
    signal half-way is undone. ``run_app`` leaves the cleanup contexts that did start as they are,
    so a database connection opened by one of them stays open, and SQLite's connection threads then
    keep the process alive after the error (``memos serve`` never exited). ``ready`` is called once
    every site accepts connections.
    """
    loop = asyncio.new_event_loop()
    main = loop.create_task(_serve(app, listen, ready, runner_options))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):  # raised by the signal handler, outside ``main``
        pass
    finally:
        try:
            if not main.done():  # stop waiting, or interrupt the start-up: ``_serve`` cleans up
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            rest = asyncio.all_tasks(loop)  # what the app's cleanup left running
            for task in rest:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            asyncio.set_event_loop(None)
            loop.close()


async def _serve(
    app: web.Application,
    listen: Callable[[web.AppRunner], Iterable[web.BaseSite]],
    ready: Callable[[], None] | None,
    runner_options: dict[str, Any],
) -> None:
    runner = web.AppRunner(app, handle_signals=True, **runner_options)
    try:
        await runner.setup()
        for site in listen(runner):
            await site.start()
        # What start-up built (modules, tables, compiled statements, the app) lives as long as the
        # process: frozen, a full garbage collection no longer walks it. Under load such a collection
        # paused every request for about 60 ms; frozen, about 15.
        gc.freeze()
        if ready is not None:
            ready()
        await asyncio.Future()  # until a signal: the handler raises GracefulExit and ``run`` cancels this
    finally:
        await runner.cleanup()  # also exits the cleanup contexts of a start-up that did not finish


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CONTEXT]
    await connect_when_reachable(ctx.store, ctx.config.db_connect_timeout)
    try:
        await ctx.store.migrate(demo=ctx.config.demo)
        async with ctx.store.connection():
            basic = await ctx.store.get_basic()
        ctx.secret = "usememos" if ctx.config.demo else basic["secretKey"]
        if ctx.config.demo:
            log.warning(
                "demo mode: access tokens, sessions and signed links use the public key 'usememos', so anyone "
                "can forge them; never keep real data in a demo instance"
            )
    except BaseException:
        await ctx.store.disconnect()
        raise
    catch_up = app[SEARCH_CATCH_UP]  # set before start-up: a started app's state must not change
    if ctx.serving:
        catch_up.task = asyncio.create_task(_search_catch_up(ctx.store))
    yield
    if catch_up.task is not None:
        await _finish_catch_up(catch_up.task)
    await ctx.live.stop()
    await ctx.store.disconnect()


class SearchCatchUp:
    """Holds the full-text index's catch-up task, started with the app (tests await ``task``)."""

    task: asyncio.Task | None = None


SEARCH_CATCH_UP = web.AppKey("memos_search_catch_up", SearchCatchUp)


#: Seconds shutdown lets the search catch-up finish before cancelling it (a statement cancelled
#: mid-flight can leave its connection broken; on a fresh database the catch-up takes milliseconds).
CATCH_UP_GRACE = 5.0


async def _finish_catch_up(task: asyncio.Task) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), CATCH_UP_GRACE)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    except Exception:  # its failure was logged by the task itself
        pass


async def _search_catch_up(store: Store) -> None:
    """Bring the search index in step in the background: on a database written behind its back
    (an upstream database opened the first time, copy-db, restore) requests are served meanwhile,
    and searches find more as it proceeds."""
    try:
        with store.background():
            async with store.connection():
                await search_store.catch_up(store)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the search index catch-up failed; run memos reindex")
