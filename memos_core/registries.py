"""Registries: the hooks through which plugins provide named things, all collected by one rule.

Four hooks hand their implementations a ``register`` callable: ``memos_register_storage``
(storage backends), ``memos_register_auth_providers`` (sign-in providers),
``memos_register_runners`` (scheduled jobs) and ``memos_register_search_modes`` (search modes).
For every one of them:

* it is collected **once per application**, when the server starts: storage backends and search
  modes while the application is built (their implementations must answer synchronously), sign-in
  providers and jobs as the first step of start-up (their implementations may be ``async``);
* every registration is recorded with the plugin and distribution that made it, so ``memos plugins``
  and ``GET /api/v1/plugins`` show what each plugin registered;
* a name registered twice stops start-up with an error naming both distributions, with one
  exception: a name the core itself registers (distribution ``memos-server``) is a default that one
  plugin may replace (a plugin's ``passwordCredentials`` provider replaces the core's);
* ``register`` works only while its hook is being collected; calling it later is an error.

docs/registries.md explains the rule with examples.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .plugins import CORE_DISTRIBUTION, PluginError, refuse_awaitable

if TYPE_CHECKING:
    from .plugins import Plugins

log = logging.getLogger(__name__)


class RegistrationError(PluginError, ValueError):
    """A registry hook's implementation registered something it may not; start-up stops."""


@dataclasses.dataclass(frozen=True)
class Registration:
    """One thing a plugin registered: ``register(name, *args)`` and who called it."""

    name: str
    #: What followed the name: ``(backend,)``, ``(provider,)``, ``(mode,)`` or ``(cron_spec, coroutine_function)``.
    args: tuple[Any, ...]
    #: The plugin as ``memos plugins`` lists it, and its distribution.
    plugin: str
    distribution: str
    version: str = ""
    #: The core's registration of the same name that this one replaced, if any.
    replaces: Registration | None = None

    @property
    def value(self) -> Any:
        """The registered object (the only argument after the name, or the tuple of them)."""
        return self.args[0] if len(self.args) == 1 else self.args

    def owner(self) -> str:
        return f"plugin {self.plugin!r} (distribution {f'{self.distribution} {self.version}'.strip()})"


@dataclasses.dataclass(frozen=True)
class RegistryKind:
    """One registry hook: its name, how ``memos plugins`` labels it and when it is collected."""

    hook: str
    label: str  # "storage", "runners"... as ``memos plugins`` prints it
    noun: str  # for messages: "two scheduled jobs are named ..."
    arity: int  # arguments after the name
    at_build: bool  # collected while the app is built, so implementations must answer synchronously
    check: Callable[[str, tuple[Any, ...]], None] | None = None  # raises ValueError to refuse


def _check_search_mode(name: str, args: tuple[Any, ...]) -> None:
    from .search_modes import TEXT

    if name == TEXT:
        raise ValueError(f"search mode {TEXT!r} is the built-in full-text ranking and cannot be registered")
    if not name.isidentifier() or not name.islower():
        raise ValueError(f"search mode names are lowercase identifiers, not {name!r}")


STORAGE = RegistryKind("memos_register_storage", "storage", "storage backends", 1, at_build=True)
AUTH_PROVIDERS = RegistryKind("memos_register_auth_providers", "auth providers", "sign-in providers", 1, at_build=False)
RUNNERS = RegistryKind("memos_register_runners", "runners", "scheduled jobs", 2, at_build=False)
SEARCH_MODES = RegistryKind(
    "memos_register_search_modes", "search modes", "search modes", 1, at_build=True, check=_check_search_mode
)
#: Every registry hook, in the order ``memos plugins`` lists what a plugin registered.
KINDS: tuple[RegistryKind, ...] = (STORAGE, AUTH_PROVIDERS, RUNNERS, SEARCH_MODES)


class Registry(Mapping[str, Registration]):
    """What one registry hook collected: registrations by name, in registration order."""

    def __init__(self, kind: RegistryKind, entries: dict[str, Registration]) -> None:
        self.kind = kind
        self._entries = entries

    def __getitem__(self, name: str) -> Registration:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def values_by_name(self) -> dict[str, Any]:
        """``{name: registered object}``."""
        return {name: r.value for name, r in self._entries.items()}

    def __repr__(self) -> str:
        return f"<Registry {self.kind.label}: {', '.join(self._entries) or '-'}>"


class _Collector:
    """Collects one registry hook's registrations, implementation by implementation."""

    def __init__(self, plugins: Plugins, kind: RegistryKind) -> None:
        self.plugins = plugins
        self.kind = kind
        self.entries: dict[str, Registration] = {}

    def impls(self) -> list[Any]:
        # get_hookimpls() lists implementations in reverse of pluggy's call order (tryfirst first)
        return list(reversed(getattr(self.plugins.pm.hook, self.kind.hook).get_hookimpls()))

    def register_for(self, impl: Any) -> tuple[Callable[..., None], Callable[[], None]]:
        """A ``register`` callable for ``impl``, and a function that closes it."""
        plugin, dist_name, version = self.plugins.owner_of(impl.plugin_name)
        distribution = f"{dist_name} {version}".strip()
        open_ = [True]

        def register(name: str, *args: Any) -> None:
            kind = self.kind
            if not open_[0]:
                raise RegistrationError(
                    f"plugin {plugin!r} (distribution {distribution}) called {kind.hook}'s register after the "
                    "hook returned; register everything while the hook runs"
                )
            if len(args) != kind.arity:
                raise RegistrationError(
                    f"plugin {plugin!r} (distribution {distribution}) called {kind.hook}'s register with "
                    f"{1 + len(args)} arguments; it takes {1 + kind.arity}"
                )
            if not isinstance(name, str):
                raise RegistrationError(
                    f"plugin {plugin!r} (distribution {distribution}) registered {kind.noun} under {name!r}: "
                    "names are strings"
                )
            if kind.check is not None:
                try:
                    kind.check(name, args)
                except ValueError as e:
                    raise RegistrationError(f"plugin {plugin!r} (distribution {distribution}): {e}") from None
            self.add(Registration(name, tuple(args), plugin, dist_name, version))

        def close() -> None:
            open_[0] = False

        return register, close

    def add(self, new: Registration) -> None:
        old = self.entries.get(new.name)
        if old is None:
            self.entries[new.name] = new
            return
        old_core = old.distribution == CORE_DISTRIBUTION
        new_core = new.distribution == CORE_DISTRIBUTION
        if old_core != new_core and old.replaces is None:
            plugin, core = (new, old) if old_core else (old, new)
            self.entries[new.name] = dataclasses.replace(plugin, replaces=core)
            log.info("%s %r: %s replaces the core's", self.kind.label, new.name, plugin.owner())
            return
        raise RegistrationError(
            f"two {self.kind.noun} are named {new.name!r}: one from {old.owner()}, one from {new.owner()}; "
            "remove or disable one of them (MEMOS_DISABLE_PLUGINS)"
        )

    def call(self, impl: Any, register: Callable[..., None]) -> Any:
        kwargs = {"register": register}
        return impl.function(**{name: kwargs[name] for name in impl.argnames})

    def collect_sync(self) -> Registry:
        for impl in self.impls():
            register, close = self.register_for(impl)
            try:
                result = self.call(impl, register)
            finally:
                close()
            refuse_awaitable(result, impl.plugin_name, self.kind.hook)
        return Registry(self.kind, self.entries)

    async def collect(self) -> Registry:
        for impl in self.impls():
            register, close = self.register_for(impl)
            try:
                result = self.call(impl, register)
                if inspect.isawaitable(result):
                    await result
            finally:
                close()
        return Registry(self.kind, self.entries)


def collect_sync(plugins: Plugins, kind: RegistryKind) -> Registry:
    """Collect a registry whose implementations answer synchronously (``kind.at_build``)."""
    return _Collector(plugins, kind).collect_sync()


async def collect(plugins: Plugins, kind: RegistryKind) -> Registry:
    """Collect a registry, awaiting implementations that are ``async``."""
    if kind.at_build:
        return collect_sync(plugins, kind)
    return await _Collector(plugins, kind).collect()


async def collect_all(plugins: Plugins) -> dict[str, Registry]:
    """Every registry, by label (what ``memos plugins`` shows without starting a server)."""
    return {kind.label: await collect(plugins, kind) for kind in KINDS}


def registered_by(registries: Mapping[str, Registry]) -> dict[str, dict[str, list[str]]]:
    """``{plugin: {label: [names]}}``: what each plugin registered, for ``memos plugins``."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind in KINDS:
        registry = registries.get(kind.label)
        for name, reg in (registry or {}).items():
            out.setdefault(reg.plugin, {}).setdefault(kind.label, []).append(name)
    return out
