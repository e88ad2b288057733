"""The plugin contract of memos-py: every hook a plugin may implement.

This module is the only part of the core that plugins are written against (with the names
re-exported from :mod:`memos_core`). Implement a hook by decorating a function or method of the
same name with :data:`memos_core.hookimpl` and exposing the object through an entry point in the
``memos.plugins`` group (or ``memos.drivers`` for database drivers)::

    # my_plugin.py, declared as  [project.entry-points."memos.plugins"] my = "my_plugin"
    from memos_core import hookimpl

    @hookimpl
    def memos_on_event(app, event):
        print(event.name, event.resource)

Conventions:

* Every hook is named ``memos_*``. Hooks marked *first-result* stop at the first implementation
  that returns something other than ``None``; *fan-out* hooks call every implementation.
* An implementation may return a value or an awaitable; the core awaits what needs awaiting. For a
  first-result hook, return ``None`` synchronously to pass: an awaitable counts as an answer.
  Exceptions: ``memos_register_storage``, ``memos_register_routes`` and ``memos_cleanup_ctx`` run
  while the application is built, before any event loop serves it, and must answer synchronously
  (an awaitable stops start-up with an error naming the plugin).
* Registries receive a ``register`` callable; call it once per thing you provide.
* :data:`HOOKSPEC_VERSION` is bumped whenever a hook's signature or meaning changes incompatibly.
* An implementation takes only the arguments it needs, by name, and must not give them defaults
  (pluggy does not pass defaulted arguments). So adding an argument to a hook is compatible and
  does not bump the version; removing or changing one does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - types for readers and checkers only
    from aiohttp import web

HOOKSPEC_VERSION = 1

hookspec = pluggy.HookspecMarker("memos")
hookimpl = pluggy.HookimplMarker("memos")


@hookspec
def memos_register_storage(register) -> None:
    """Registry: provide attachment storage backends.

    Call ``register(name, backend)`` with the storage type name used in the STORAGE instance
    setting (``"LOCAL"``, ``"DATABASE"``, ``"S3"``) and a backend object. Fan-out.
    """


@hookspec
def memos_register_auth_providers(register) -> None:
    """Registry: provide sign-in methods.

    Call ``register(name, provider)`` where ``provider`` is an awaitable callable
    ``provider(app, credentials: dict) -> User`` that raises :class:`memos_core.ApiError` on
    failure. ``name`` is the key of the sign-in request body it handles, for example
    ``"passwordCredentials"`` or ``"ssoCredentials"``. Fan-out.
    """


@hookspec(firstresult=True)
def memos_authenticate(app: web.Application, request: web.Request) -> Any:
    """Turn the credentials of ``request`` into a :class:`memos_core.Principal`.

    Return a principal for a valid credential, ``None`` when the request carries no credential
    this implementation understands, or raise :class:`memos_core.ApiError` (UNAUTHENTICATED)
    for a credential it understands but rejects. First-result. The defaults accept bearer access
    JWTs and personal access tokens.
    """


@hookspec
def memos_register_runners(register) -> None:
    """Registry: background jobs.

    Call ``register(name, cron_spec, coroutine_function)``; the scheduler plugin runs
    ``await coroutine_function(app)`` on the cron spec, once across all app instances. Fan-out.
    """


@hookspec(firstresult=True)
def memos_compile_filter(expression: str, scope: str, context: dict) -> Any:
    """Compile a filter expression into a SQLAlchemy boolean clause.

    ``scope`` says what is filtered (``"memo"`` for ListMemos and shortcuts, ``"attachment"`` for
    ListAttachments); ``context`` carries ``"dialect"`` (the SQLAlchemy dialect name) and
    optionally ``"now"``; the clause is over :data:`memos_core.tables` (``memo``, ``attachment``).
    Return the clause, or ``None`` if this implementation does not handle the scope. Raise
    :class:`memos_core.ApiError` (INVALID_ARGUMENT) for a bad expression. First-result.
    """


@hookspec(firstresult=True)
def memos_extract_payload(content: str) -> Any:
    """Derive the memo payload from markdown ``content``.

    Return a dict ``{"tags": [...], "property": {...}}`` shaped as Memos stores it in
    ``memo.payload`` (camelCase keys, false values omitted). First-result.
    """


@hookspec(firstresult=True)
def memos_extract_mentions(content: str) -> Any:
    """Return the list of lowercase usernames ``@mentioned`` in ``content``. First-result."""


@hookspec(firstresult=True)
def memos_generate_snippet(content: str) -> Any:
    """Return the plain-text snippet of ``content`` (at most 64 runes plus " ..."). First-result."""


@hookspec(firstresult=True)
def memos_render_markdown(content: str, app: web.Application | None, base_url: str) -> Any:
    """Render markdown ``content`` to safe HTML (no raw HTML, no script links). First-result.

    ``app`` is the running application (for per-instance settings; ``None`` outside a server) and
    ``base_url`` the origin the HTML will be read from, without a trailing slash (``""`` when
    relative links are fine): links the renderer builds itself (tags, mentions, proxied images)
    start with it, so they still work in a feed reader.
    """


@hookspec
def memos_on_event(app: web.Application, event) -> Any:
    """Called after a change is committed, with a :class:`memos_core.Event`.

    ``event.name`` is a webhook activity type such as ``"memos.memo.created"``,
    ``"memos.memo.updated"``, ``"memos.memo.deleted"``, ``"memos.memo.comment.created"`` or
    ``"memos.user.created"``. Implementations must not block the request: queue slow work.
    Exceptions are logged and never reach the caller. Fan-out.
    """


@hookspec
def memos_register_routes(app: web.Application) -> None:
    """Add routes or sub-applications to ``app`` before its router freezes. Fan-out."""


@hookspec
def memos_cleanup_ctx(app: web.Application) -> Any:
    """Return an async generator function ``f(app)`` (aiohttp cleanup context) or ``None``.

    Code before its ``yield`` runs at start-up, code after it at shutdown: open pools, clients
    and background tasks here. Fan-out.
    """
