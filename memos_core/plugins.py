"""The plugin manager: stevedore finds and loads entry points, pluggy calls their hooks.

Two entry-point groups:

* ``memos.drivers``: exactly one is loaded, the one named by ``MEMOS_DRIVER``. Its object is a
  :class:`memos_core.store.Driver` subclass, instantiated with the :class:`~memos_core.Config`.
* ``memos.plugins``: every installed one (narrowed by ``MEMOS_PLUGINS`` / ``MEMOS_DISABLE_PLUGINS``).
  A module is registered as it is; a class is instantiated without arguments.

Both end up registered with one :class:`pluggy.PluginManager`, so a driver may implement hooks too,
next to the core's own plugin (:mod:`memos_core.jobs`, listed as ``core``), which no setting removes.

A plugin may declare the oldest hook-spec version it works with as ``MEMOS_HOOKSPEC = N`` on the
object its entry point names (the module, or the class); a core older than that stops start-up
with an error naming the distribution, instead of failing later on a hook it does not have.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import logging
import weakref
from collections.abc import Iterable
from typing import Any

import pluggy
import stevedore
from stevedore.exception import NoMatches

from . import hookspecs
from .config import Config

log = logging.getLogger(__name__)

PLUGINS_GROUP = "memos.plugins"
DRIVERS_GROUP = "memos.drivers"
#: The group of the core's own plugin: not an entry point, always registered.
CORE_GROUP = "memos.core"
CORE_DISTRIBUTION = "memos-server"
#: The attribute by which a plugin declares the oldest hook-spec version it works with.
REQUIRES_ATTRIBUTE = "MEMOS_HOOKSPEC"


#: Plugin managers whose hook calls are logged (MEMOS_TRACE_PLUGINS=1).
_TRACED: weakref.WeakSet = weakref.WeakSet()


class PluginError(RuntimeError):
    """A plugin could not be loaded or does not fit the hook contract; start-up stops."""


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str
    group: str
    hooks: tuple[str, ...]
    #: Its name in the pluggy manager (``HookImpl.plugin_name``).
    key: str = ""

    @property
    def kind(self) -> str:
        return {DRIVERS_GROUP: "driver", CORE_GROUP: "core"}.get(self.group, "plugin")

    def to_json(self, registered: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Its JSON description; ``registered`` (what it registered, by registry) is added when not empty."""
        out: dict[str, Any] = {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "kind": self.kind,
            "hooks": list(self.hooks),
        }
        if registered:
            out["registered"] = registered
        return out


@dataclasses.dataclass
class Plugins:
    """What start-up loaded: the pluggy manager, the chosen driver and a description of each."""

    pm: pluggy.PluginManager
    driver: Any
    infos: list[PluginInfo]

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def owner_of(self, plugin_name: str) -> tuple[str, str, str]:
        """The plugin's listed name, distribution and version for a pluggy plugin name."""
        for info in self.infos:
            if info.key == plugin_name:
                return info.name, info.distribution, info.version
        return plugin_name, "unknown", ""

    def to_json(self, registries: Any = None) -> list[dict[str, Any]]:
        """Each plugin's JSON description, with what it registered when ``registries`` (collected
        registries by label, see :mod:`memos_core.registries`) are given."""
        from .registries import registered_by

        by_plugin = registered_by(registries or {})
        return [i.to_json(by_plugin.get(i.name)) for i in self.infos]


def _distribution_index() -> dict[tuple[str, str, str], tuple[str, str]]:
    """``(group, name, value)`` of every memos entry point -> ``(distribution, version)``.

    stevedore serves entry points from its own cache, as bare ``EntryPoint`` objects that do not
    know their distribution, so it is looked up here once per start-up.
    """
    index: dict[tuple[str, str, str], tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group in (PLUGINS_GROUP, DRIVERS_GROUP):
                index.setdefault((ep.group, ep.name, ep.value), (dist.metadata["Name"] or "unknown", dist.version))
    return index


_DIST_INDEX: dict[tuple[str, str, str], tuple[str, str]] | None = None


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    """The distribution name and version that declared ``ep``."""
    global _DIST_INDEX
    dist = getattr(ep, "dist", None)
    if dist is not None:
        return dist.metadata["Name"], dist.version
    key = (ep.group, ep.name, ep.value)
    if _DIST_INDEX is None or key not in _DIST_INDEX:
        _DIST_INDEX = _distribution_index()
    return _DIST_INDEX.get(key, ("unknown", "unknown"))


def _as_plugin(obj: Any) -> Any:
    return obj() if inspect.isclass(obj) else obj


def new_plugin_manager(config: Config | None = None) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("memos")
    pm.add_hookspecs(hookspecs)
    if config is not None and config.trace_plugins:
        trace = logging.getLogger("memos.plugins.trace")

        def before(hook_name, hook_impls, kwargs):
            trace.info("hook %s -> %s", hook_name, [i.plugin_name for i in hook_impls])

        def after(outcome, hook_name, hook_impls, kwargs):
            trace.info("hook %s done", hook_name)

        pm.add_hookcall_monitoring(before, after)
        _TRACED.add(pm)
    return pm


def _selected_plugin_names(config: Config) -> list[str]:
    """Apply the allow/deny lists. Core plugins (memos-server's own) ignore the allowlist.

    An allowlisted name that is not installed is an error (a typo must not silently drop a
    plugin); a blocklisted one that is not installed is only logged.
    """
    names = []
    installed = set()
    for ep in importlib.metadata.entry_points(group=PLUGINS_GROUP):
        installed.add(ep.name)
        if ep.name in config.disable_plugins:
            continue
        is_core = _dist_of(ep)[0] == CORE_DISTRIBUTION
        if config.plugins is not None and not is_core and ep.name not in config.plugins:
            continue
        if ep.name not in names:
            names.append(ep.name)
    missing = sorted(set(config.plugins or ()) - installed)
    if missing:
        raise PluginError(
            f"MEMOS_PLUGINS names plugins that are not installed: {', '.join(missing)} "
            f"(installed: {', '.join(sorted(installed)) or 'none'})"
        )
    for name in sorted(set(config.disable_plugins) - installed):
        log.warning("MEMOS_DISABLE_PLUGINS names %r, which is not installed", name)
    return names


def load_plugins(config: Config, extra: Iterable[Any] = ()) -> Plugins:
    """Load the driver and the plugins, register them, and verify every hook implementation.

    ``extra`` objects are registered too (tests and embedding applications use it to add a plugin
    without installing a package).
    """
    pm = new_plugin_manager(config)
    infos: list[PluginInfo] = []
    from . import jobs

    pm.register(jobs, name="core")
    infos.append(PluginInfo("core", CORE_DISTRIBUTION, _core_version(), CORE_GROUP, _hooks_of(pm, jobs), "core"))

    def failed(_manager, ep, err):
        dist, version = _dist_of(ep)
        raise PluginError(f"plugin {ep.name!r} from distribution {dist} {version} failed to load: {err!r}") from err

    try:
        driver_mgr = stevedore.DriverManager(
            namespace=DRIVERS_GROUP,
            name=config.driver,
            invoke_on_load=True,
            invoke_args=(config,),
            on_load_failure_callback=failed,
        )
    except NoMatches:
        available = sorted(ep.name for ep in importlib.metadata.entry_points(group=DRIVERS_GROUP))
        raise PluginError(
            f"no database driver named {config.driver!r} is installed (installed: {', '.join(available) or 'none'}); "
            f"install memos-driver-{config.driver}"
        ) from None
    driver_ext = driver_mgr.extensions[0]
    driver = driver_ext.obj
    _register(pm, driver, driver_ext.name, driver_ext.entry_point, DRIVERS_GROUP, infos)

    names = _selected_plugin_names(config)
    if names:
        mgr = stevedore.NamedExtensionManager(
            namespace=PLUGINS_GROUP,
            names=names,
            name_order=True,
            on_load_failure_callback=failed,
        )
        for ext in mgr:
            _register(pm, _as_plugin(ext.plugin), ext.name, ext.entry_point, PLUGINS_GROUP, infos)

    for obj in extra:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        _check_hookspec_version(obj, name, "(registered in process)", "")
        pm.register(obj, name=name)
        infos.append(PluginInfo(name, "(registered in process)", "", PLUGINS_GROUP, _hooks_of(pm, obj), name))

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        name = pm.get_name(e.plugin) or repr(e.plugin)
        info = next((i for i in infos if name in (i.name, f"{i.group}:{i.name}")), None)
        where = f" from distribution {info.distribution} {info.version}".rstrip() if info else ""
        raise PluginError(f"plugin {name.split(':')[-1]!r}{where} implements a hook that does not exist: {e}") from e
    return Plugins(pm=pm, driver=driver, infos=infos)


def _hooks_of(pm: pluggy.PluginManager, plugin: Any) -> tuple[str, ...]:
    return tuple(sorted(h.name for h in (pm.get_hookcallers(plugin) or [])))


def _register(pm, plugin, name, ep, group, infos) -> None:
    dist, version = _dist_of(ep)
    _check_hookspec_version(plugin, name, dist, version)
    try:
        pm.register(plugin, name=f"{group}:{name}")
    except (pluggy.PluginValidationError, ValueError) as e:
        raise PluginError(f"plugin {name!r} from distribution {dist} {version} is invalid: {e}") from e
    infos.append(PluginInfo(name, dist, version, group, _hooks_of(pm, plugin), f"{group}:{name}"))


def _core_version() -> str:
    from . import __version__

    return __version__


def _check_hookspec_version(plugin: Any, name: str, dist: str, version: str) -> None:
    """Refuse a plugin whose ``MEMOS_HOOKSPEC`` is newer than this core's :data:`HOOKSPEC_VERSION`."""
    required = getattr(plugin, REQUIRES_ATTRIBUTE, None)
    if required is None:
        return
    where = f"plugin {name!r} from distribution {f'{dist} {version}'.strip()}"
    if isinstance(required, bool) or not isinstance(required, int) or required < 1:
        raise PluginError(f"{where} declares {REQUIRES_ATTRIBUTE} = {required!r}; it must be a positive integer")
    if required > hookspecs.HOOKSPEC_VERSION:
        raise PluginError(
            f"{where} needs hook-spec version {required}, but this memos-server {_core_version()} provides "
            f"version {hookspecs.HOOKSPEC_VERSION}: upgrade memos-server, or install a release of {dist} made "
            f"for hook-spec version {hookspecs.HOOKSPEC_VERSION}"
        )


def refuse_awaitable(result: Any, plugin_name: str, hook_name: str) -> None:
    """Raise :class:`PluginError` if a hook that runs while the application is built answered with
    an awaitable (closed first, so no "never awaited" warning follows)."""
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise PluginError(
            f"plugin {plugin_name!r} returned an awaitable from {hook_name}, which must answer "
            "synchronously (it runs while the application is built)"
        )


def call_sync(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[Any]:
    """Call a start-up hook whose implementations must answer synchronously, in pluggy's order.

    Registries and routes are collected while the application is built, before any event loop
    serves it, so an awaitable cannot be honoured there: it stops start-up with an error naming the
    plugin instead of being silently dropped.
    """
    results = []
    impls = list(reversed(getattr(pm.hook, hook_name).get_hookimpls()))
    if pm in _TRACED:
        logging.getLogger("memos.plugins.trace").info("hook %s -> %s", hook_name, [i.plugin_name for i in impls])
    for impl in impls:
        result = impl.function(**{name: kwargs[name] for name in impl.argnames})
        refuse_awaitable(result, impl.plugin_name, hook_name)
        if result is not None:
            results.append(result)
    return results


async def resolve(value: Any) -> Any:
    """Await ``value`` if a hook implementation returned an awaitable."""
    return await value if inspect.isawaitable(value) else value


async def call_all(hook, **kwargs) -> list[Any]:
    """Call a fan-out hook and await every result that needs it."""
    return [await resolve(r) for r in hook(**kwargs)]


async def call_first(hook, **kwargs) -> Any:
    """Call a first-result hook and await its result if needed."""
    return await resolve(hook(**kwargs))
