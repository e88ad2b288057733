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
  Exceptions: ``memos_register_storage``, ``memos_register_search_modes``, ``memos_register_routes``
  and ``memos_cleanup_ctx`` run while the application is built, before any event loop serves it,
  and must answer synchronously (an awaitable stops start-up with an error naming the plugin).
* Registries (the four ``memos_register_*`` hooks that receive a ``register`` callable) follow one
  rule: call ``register`` once per thing you provide, while the hook runs; each registry is collected
  once per application at start-up; a name registered by two distributions stops start-up with an
  error naming both (a plugin may replace a name the core itself registers); ``memos plugins`` shows
  what each plugin registered. See :mod:`memos_core.registries` and docs/registries.md.
* :data:`HOOKSPEC_VERSION` is bumped whenever a hook's signature or meaning changes incompatibly. A
  plugin declares the oldest version it works with as ``MEMOS_HOOKSPEC = N`` on the module or class
  its entry point names; an older core then stops start-up with an error naming its distribution.
* An implementation takes only the arguments it needs, by name, and must not give them defaults
  (pluggy does not pass defaulted arguments). So adding an argument to a hook is compatible and
  does not bump the version; removing or changing one does.
* Adding a hook is compatible as well and does not bump the version either; a plugin that
  implements a hook the running core does not define stops start-up with an error naming it.
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
    ``"passwordCredentials"`` or ``"ssoCredentials"``; registering one of the core's keys replaces
    the core's provider. Collected once, at start-up. Fan-out.
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
    ``await coroutine_function(app)`` on the cron spec, once across all app instances. Collected
    once, at start-up (``Context.runners``). Fan-out.
    """


@hookspec
def memos_register_search_modes(register) -> None:
    """Registry: ways to rank ListMemos' ``search`` (chosen with ``searchMode=NAME``).

    Call ``register(name, mode)`` with a lowercase name (``"text"``, the built-in full-text
    ranking, is taken) and a :class:`memos_core.SearchMode`: an object with a ``label`` and
    ``await mode.rank(ctx, query=..., eligible=[...], limit=..., offset=...)`` returning memo ids,
    best first, each satisfying every ``eligible`` clause (the caller's access rules). The core
    loads the memos, serialises them and adds the ``searchSnippet``. Fan-out.
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

    ``event.name`` is one of the core's events, each a constant of :mod:`memos_core.events`
    (``events.MEMO_CREATED == "memos.memo.created"``, reactions, users...; docs/events.md lists
    them with their resource and extra keys), or an event another plugin emits. Implementations
    must not block the request: queue slow work.
    Exceptions are logged and never reach the caller. Fan-out.
    """


@hookspec
def memos_password_reset_sender(app: web.Application) -> Any:
    """Offer a way to deliver password-reset links to users (the email plugin sends mail). Fan-out.

    Return ``None``, or a channel: an object with two coroutine methods,

    * ``ready() -> bool``: whether it can deliver right now (for mail: the NOTIFICATION setting has
      email enabled). The core offers "forgot password" only while some channel is ready, and uses
      the first ready one in hook order.
    * ``send(user, link, expires_at) -> None``: deliver, or durably queue, ``link`` (an absolute URL
      on the instance URL that opens the reset form) to ``user`` (a :class:`memos_core.User`);
      ``expires_at`` is the epoch second the link stops working. Raise to report a failure: the
      caller's answer does not change (it never tells whether an account exists), the log says why.

    The core owns the rest of the flow (single-use tokens stored hashed, expiry, rate limits, setting
    the password, ending sessions), so a channel only delivers.
    """


@hookspec
def memos_register_routes(app: web.Application) -> None:
    """Add routes or sub-applications to ``app`` before its router freezes. Fan-out."""


@hookspec
def memos_cleanup_ctx(app: web.Application) -> Any:
    """Return an async generator function ``f(app)`` (aiohttp cleanup context) or ``None``.

    Code before its ``yield`` runs at start-up, code after it at shutdown: open pools, clients
    and background tasks here. When ``app[CONTEXT].serving`` is false, a command (``memos export``,
    ``memos import``) started the app to act through its services without serving: open resources
    (clients, schemas) but start no background work (workers, jobs); the servers do it. Fan-out.
    """


@hookspec(firstresult=True)
def memos_http_fetcher(app: web.Application) -> Any:
    """The server's one SSRF-guarded HTTP client for user-given URLs (link previews, proxied images).

    Return the fetcher object, or ``None`` (the memos-httpgetter plugin provides one; a plugin that
    needs it answers 503 UNAVAILABLE while none is installed or started). First-result. Every
    destination must be a public address: IP literals are checked before each request and each
    redirect hop, host names when they resolve, and the connection goes to the checked address (no
    DNS rebinding window). Its methods (keyword arguments left out take the fetcher's own limits):

    * ``async with fetcher.open(url, *, headers=None, timeout=None, max_redirects=None,
      allow_private=False) as response``: GET ``url``, following redirects hop by hop;
      ``response`` is the final ``aiohttp.ClientResponse`` (any status), its body read inside the
      block within the time limit. ``allow_private=True`` lifts the address rule for a caller's
      own admin switch (tests, closed networks).
    * ``await fetcher.get(url, *, max_bytes=None, ...)``: the same, the body read up to ``max_bytes``
      (an object with ``url`` (the final one), ``status``, ``headers``, ``body``, ``truncated``).
    * ``await fetcher.check(url)``: raise unless ``url`` could be fetched (scheme, address rule;
      the host is resolved).

    Refusals raise :class:`memos_core.ApiError`: INVALID_ARGUMENT (not an ``http(s)`` URL),
    PERMISSION_DENIED (not a public address), DEADLINE_EXCEEDED (time limit), UNAVAILABLE (host
    unreachable, too many redirects).
    """


# -- the web UI's hooks ----------------------------------------------------------------------------
# Called by the memos-web plugin (the browser pages), never by the core itself: the core imports no
# plugin, and these specs live here only as the contract a third-party package writes against, so it
# can extend the pages without forking their templates. Every one is fan-out and takes the page's
# ``request`` (``memos_core.viewer_of(request)`` is the signed-in viewer or ``None``); it may answer
# synchronously or with an awaitable, and answers ``None`` (or an empty list) to add nothing.
# URLs a plugin gives for the page to load or link to are checked by the web package: an item it
# refuses is dropped with a warning in the log, never drawn.
#
# A plugin's own pages and form handlers come from ``memos_register_routes``. Name such a route
# ``web.<something>`` and the web package treats it as one of its own: the viewer is resolved from the
# session cookie, non-GET requests must carry the CSRF token (form field ``csrf_token``), and the
# response gets the pages' security headers (a strict Content-Security-Policy: same-origin script and
# style, no inline ``<script>`` or ``style=""``).


@hookspec
def memos_web_extra_css_urls(request: web.Request) -> Any:
    """Stylesheets every page of the web UI links after its own. Fan-out, once per page.

    Return a list of URL paths on this site (each starting with ``/``, served by a route of your
    own): the pages' Content-Security-Policy allows only same-origin stylesheets, so the web
    package drops (and logs) any other URL, protocol-relative ``//host/...`` included.
    """


@hookspec
def memos_web_extra_js_urls(request: web.Request) -> Any:
    """Scripts every page of the web UI loads after its own. Fan-out, once per page.

    Return a list whose items are a URL path on this site (loaded as a deferred classic script) or
    ``{"url": path, "module": True}`` (loaded as an ES module). Same origin only, as for
    ``memos_web_extra_css_urls``: anything not starting with a single ``/`` is dropped and logged.
    Pages must work without JavaScript, so a script may only enhance what the HTML already does.
    """


@hookspec
def memos_web_nav_items(request: web.Request) -> Any:
    """Links added to the navigation rail, after the built-in ones. Fan-out, once per page.

    Return a list of ``{"label": str, "href": str}``; ``href`` is a path on this site or an
    ``http(s)://`` URL (other schemes are dropped). Decide from ``viewer_of(request)`` whether to
    offer an item to anonymous readers.
    """


@hookspec
def memos_web_settings_sections(request: web.Request, csrf_token: str) -> Any:
    """Sections added to the settings page (``/setting``), after the built-in ones. Fan-out.

    Called once per settings page for a signed-in viewer. Return a list of
    ``{"id": str, "title": str, "html": markupsafe.Markup}`` and optionally ``"admin": True``:

    * ``id`` names the section in the URL (``/setting#<id>``) and the page: lowercase letters,
      digits and ``-``, starting with a letter, and not an id the page already uses (such a
      section is dropped and logged).
    * ``html`` is the section's body, drawn as it is when it is a ``markupsafe.Markup`` (build it
      with ``Markup``'s escaping formatters, never by pasting user input into a string); a plain
      ``str`` is escaped and shown as text. No inline script or style (the CSP refuses them).
    * ``admin`` lists the section under the administrators' heading and shows it to
      administrators only. It only hides the section: your own routes must still check the viewer.

    A section's forms post to your own ``web.*`` routes and carry the page's ``csrf_token`` (the
    argument, in a hidden field named ``csrf_token``). After a change, answer with a 303 to
    ``/setting?saved=<id>#<id>`` and the page says "Saved." in your section.
    """


@hookspec
def memos_web_memo_actions(request: web.Request, memo: dict) -> Any:
    """Items added to a memo card's menu of actions. Fan-out, called once per card drawn.

    ``memo`` is the memo as the API's JSON shows it to this viewer (``memo["name"]`` is
    ``"memos/<uid>"``). Return a list of items, each either a link ``{"label": str, "href": str}``
    (a path on this site or an ``http(s)://`` URL) or a button ``{"label": str, "action": str}``
    that posts a form to ``action``, a path on this site (your own ``web.*`` route). The form carries
    ``csrf_token`` and ``next`` (the page to go back to, a path: check it starts with a single ``/``
    before redirecting there).

    This runs for every card of a page: compute from ``memo`` and never query the database here
    (load what you need once per page, or link to a page of your own that does). The menu is drawn
    for any viewer you give items to, not only the memo's author.
    """


@hookspec
def memos_web_memo_extra(request: web.Request, memo: dict) -> Any:
    """Content drawn below a memo's body on its card (for example a link preview). Fan-out, once per card.

    ``memo`` is the memo's API JSON as the viewer sees it. Return a ``markupsafe.Markup`` (drawn as
    it is: escape everything that comes from users) or a plain ``str`` (escaped, shown as text).
    Called for every card of a page, so it must be cheap and must not query the database per memo.
    No inline script or style: the pages' CSP refuses them, so style it with
    ``memos_web_extra_css_urls``.
    """
