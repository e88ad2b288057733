"""The per-application context: what handlers and services need, held under one app key."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .config import Config
from .plugins import Plugins, call_all, call_first, resolve
from .store import Store

if TYPE_CHECKING:
    from .auth import Principal

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Event:
    """Something that happened, announced through ``memos_on_event`` after it was committed.

    ``name`` is a webhook activity type; the core's are the constants of :mod:`memos_core.events`
    (``events.MEMO_CREATED`` ...), whose catalogue says each one's resource and ``extra`` keys.
    ``resource`` is the API JSON of the affected resource as the actor saw it; ``actor`` the user
    who caused it (or ``None``).
    """

    name: str
    resource: dict[str, Any]
    actor: Any = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    time: float = dataclasses.field(default_factory=time.time)


@dataclasses.dataclass
class Context:
    config: Config
    plugins: Plugins
    store: Store
    app: web.Application | None = None
    secret: str = ""  # the instance's JWT key, read from the BASIC setting at start-up
    live: Any = None  # the :class:`memos_core.live.LiveHub` behind GET /api/v1/sse
    #: False when a command started the app without serving (see ``memos_cleanup_ctx``): plugins
    #: then open their resources but start no background work.
    serving: bool = True
    #: Collected registries by label (see :mod:`memos_core.registries`).
    registries: dict[str, Any] = dataclasses.field(default_factory=dict)
    _storages: Any = None
    _search_modes: Any = None

    def registry(self, kind: Any) -> Any:
        """The :class:`memos_core.registries.Registry` of ``kind``, collected once per application.

        Storage backends and search modes are collected on first use (``create_app`` asks for them,
        so a bad registration stops start-up); sign-in providers and jobs, whose implementations may
        be async, at the start of start-up (:meth:`collect_registries`).
        """
        if kind.label not in self.registries:
            if not kind.at_build:
                raise RuntimeError(f"{kind.label} are collected when the application starts; it has not started")
            from .registries import collect_sync

            self.registries[kind.label] = collect_sync(self.plugins, kind)
        return self.registries[kind.label]

    async def collect_registries(self) -> None:
        """Collect every registry not collected yet (start-up calls it first; later calls do nothing)."""
        from .registries import KINDS, collect

        for kind in KINDS:
            if kind.label not in self.registries:
                self.registries[kind.label] = await collect(self.plugins, kind)

    @property
    def storages(self) -> Any:
        """The :class:`memos_core.storage.StorageRegistry` (built on first use from the plugins)."""
        if self._storages is None:
            from .registries import STORAGE
            from .storage import StorageRegistry

            self._storages = StorageRegistry(self.registry(STORAGE))
        return self._storages

    @property
    def search_modes(self) -> Any:
        """The :class:`memos_core.search_modes.SearchModeRegistry` (built on first use from the plugins)."""
        if self._search_modes is None:
            from .registries import SEARCH_MODES
            from .search_modes import SearchModeRegistry

            self._search_modes = SearchModeRegistry(self.registry(SEARCH_MODES))
        return self._search_modes

    @property
    def runners(self) -> Any:
        """The jobs of ``memos_register_runners`` (a :class:`memos_core.registries.Registry`; each
        registration's ``args`` are ``(cron_spec, coroutine_function)``), once the app has started."""
        from .registries import RUNNERS

        return self.registry(RUNNERS)

    @property
    def auth_providers(self) -> Any:
        """The sign-in providers of ``memos_register_auth_providers`` by credential key (a
        :class:`memos_core.registries.Registry`), once the app has started."""
        from .registries import AUTH_PROVIDERS

        return self.registry(AUTH_PROVIDERS)

    @property
    def hook(self) -> Any:
        return self.plugins.pm.hook

    async def emit(self, event: Event, *, live: bool = True) -> None:
        """Fan an event out to plugins, then to live streams; a failing plugin is logged, never the
        caller's problem. ``live=False`` when the caller already wrote the live announcement in
        its own transaction (:meth:`memos_core.live.LiveHub.record`).

        Implementations are called one by one (not through one pluggy call) so that one failing
        plugin cannot stop the others from seeing the event.
        """
        # get_hookimpls() lists implementations in reverse of pluggy's call order (tryfirst first)
        impls = list(reversed(self.plugins.pm.hook.memos_on_event.get_hookimpls()))
        if self.config.trace_plugins:
            logging.getLogger("memos.plugins.trace").info(
                "hook memos_on_event(%s) -> %s", event.name, [i.plugin_name for i in impls]
            )
        for impl in impls:
            try:
                await call_all(_single(impl), app=self.app, event=event)
            except Exception:
                log.exception("plugin %s failed on event %s", impl.plugin_name, event.name)
        if live and self.live is not None:
            try:
                await self.live.publish(event)
            except Exception:
                log.exception("publishing live event %s failed", event.name)

    async def first(self, hook_name: str, **kwargs: Any) -> Any:
        return await call_first(getattr(self.plugins.pm.hook, hook_name), **kwargs)

    async def all(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a fan-out hook's implementations in pluggy's order (tryfirst first, trylast last), each
        awaited before the next is called, so an async implementation keeps its place in that order.
        ``None`` results are dropped, as pluggy drops them."""
        hook = getattr(self.plugins.pm.hook, hook_name)
        impls = hook.get_hookimpls()
        if any(i.hookwrapper or i.wrapper for i in impls):
            return await call_all(hook, **kwargs)  # wrappers need pluggy's own call
        impls = list(reversed(impls))
        if self.config.trace_plugins:
            logging.getLogger("memos.plugins.trace").info("hook %s -> %s", hook_name, [i.plugin_name for i in impls])
        results = []
        for impl in impls:
            result = await resolve(impl.function(**{k: kwargs[k] for k in impl.argnames}))
            if result is not None:
                results.append(result)
        return results


def _single(impl):
    def call(**kwargs):
        return [impl.function(**{k: kwargs[k] for k in impl.argnames})]

    return call


CONTEXT = web.AppKey("memos_context", Context)


def context_of(request: web.Request) -> Context:
    return request.config_dict[CONTEXT]


def viewer_of(request: web.Request) -> Principal | None:
    from .auth import PRINCIPAL

    return request.get(PRINCIPAL)
