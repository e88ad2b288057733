"""The UI's languages: gettext catalogs read with Babel, the viewer's language, localised dates.

Text is written in English in the templates (``{{ _("Save") }}``, Jinja's i18n extension with
new-style gettext, so ``{{ _("%(n)s memos", n=3) }}`` escapes ``n``), in Python
(:func:`gettext`, or :data:`N_` to mark a module-level constant translated where it is shown) and
in the page's scripts (``t("Saved")`` from ``static/i18n.js``). Catalogs live in
``locale/<locale>/LC_MESSAGES/messages.po`` and are compiled in memory the first time a language
is used, so no binary ``.mo`` is kept in the repository. The scripts' messages (those the catalog
locates in a ``.js`` file) are served as a small cached script, ``/web/i18n/<lang>.js``.

The language of a request: the signed-in viewer's GENERAL setting ``locale`` (upstream's values,
``en``, ``zh-Hans``: both front ends read each other's choice), else the best match of the
browser's ``Accept-Language``, else English.

Adding a language is one catalog file plus one line in :data:`LANGUAGES` (see web/README.md).
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import functools
import gettext as gettext_module
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_datetime, format_skeleton, format_timedelta, get_day_names, get_month_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

#: The languages the UI speaks: upstream's locale value -> the language's name in itself.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "zh-Hans": "简体中文",
}
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
#: Where a page's script finds the messages of its language.
CATALOG_PATH = "/web/i18n/{lang}.js"

_LANG = web.RequestKey("memos_web_lang", str)


@dataclasses.dataclass(frozen=True)
class Language:
    code: str  # upstream's value, also the page's <html lang>
    name: str
    locale: Locale
    translations: gettext_module.NullTranslations
    script: bytes  # the scripts' messages, as the body of /web/i18n/<code>.js
    etag: str

    @property
    def catalog_url(self) -> str:
        """The script with the page scripts' messages (versioned, so it can be cached for good)."""
        return CATALOG_PATH.format(lang=self.code) + "?v=" + self.etag


def babel_locale(code: str) -> Locale:
    """``zh-Hans`` -> ``Locale('zh', script='Hans')`` (also the catalog folder's name, ``zh_Hans``)."""
    return Locale.parse(code, sep="-")


def catalog_path(code: str) -> Path:
    return LOCALE_DIR / str(babel_locale(code)) / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def language(code: str) -> Language:
    """A language with its catalog compiled (once per process). English, the source language, has
    no catalog: its messages are the text itself."""
    locale = babel_locale(code)
    translations: gettext_module.NullTranslations = gettext_module.NullTranslations()
    js: dict[str, str] = {}
    path = catalog_path(code)
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale, domain=DOMAIN)
        buf = io.BytesIO()
        write_mo(buf, catalog)  # fuzzy entries are left out, as msgfmt does
        buf.seek(0)
        translations = Translations(fp=buf, domain=DOMAIN)
        for message in catalog:
            if (
                message.id
                and isinstance(message.id, str)
                and message.string
                and not message.fuzzy
                and any(loc.endswith(".js") for loc, _ in message.locations)
            ):
                js[message.id] = str(message.string)
    body = json.dumps({"lang": code, "messages": js}, ensure_ascii=False, sort_keys=True)
    script = f"globalThis.memosI18n = {body};\n".encode()
    etag = hashlib.sha256(script).hexdigest()[:16]
    return Language(code, LANGUAGES.get(code, code), locale, translations, script, etag)


# -- choosing the language -------------------------------------------------------------------------
def _script_of(tag: str) -> tuple[str, str] | None:
    """A language tag as (language, script), the script implied by the region when not written
    (``zh-TW`` -> ``("zh", "Hant")``, ``zh`` -> ``("zh", "Hans")``, ``en-GB`` -> ``("en", "Latn")``)."""
    try:
        locale = Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    if locale.script:
        return locale.language, locale.script
    likely = get_global("likely_subtags")
    full = likely.get(str(locale)) or likely.get(locale.language) or ""
    parts = full.split("_")
    return locale.language, parts[1] if len(parts) > 2 else ""


@functools.cache
def _offered() -> dict[tuple[str, str], str]:
    return {key: code for code in LANGUAGES if (key := _script_of(code)) is not None}


def parse_accept_language(header: str) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (``q=0`` and ``*`` left out)."""
    ranked = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > 0 and len(tag) <= 35:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)[:20]]


def negotiate(header: str) -> str | None:
    """The offered language the browser prefers most: same language and script (so a reader of
    Traditional Chinese is not sent Simplified), else ``None``."""
    for tag in parse_accept_language(header):
        if tag in LANGUAGES:
            return tag
        key = _script_of(tag)
        if key is not None and key in _offered():
            return _offered()[key]
    return None


async def language_of(request: web.Request) -> Language:
    """The request's language: the viewer's setting, else ``Accept-Language``, else English."""
    code = request.get(_LANG)
    if code is None:
        from memos_core import viewer_of

        from .render import user_preferences

        code = ""
        if viewer_of(request) is not None:
            wanted = (await user_preferences(request)).get("locale") or ""
            code = wanted if wanted in LANGUAGES else ""
        code = code or negotiate(request.headers.get("Accept-Language", "")) or DEFAULT
        request[_LANG] = code
    return language(code)


# -- translating -----------------------------------------------------------------------------------
_current: contextvars.ContextVar[Language | None] = contextvars.ContextVar("memos_web_language", default=None)


async def activate(request: web.Request) -> Language:
    """Make the request's language the one :func:`gettext` and the templates use from here on.

    Called at the start of every page request (the web middleware) and again by ``render``: a
    keep-alive connection serves several requests in one task, so each sets its own."""
    lang = await language_of(request)
    _current.set(lang)
    return lang


def current() -> Language:
    return _current.get() or language(DEFAULT)


def _raw_gettext(message: str) -> str:
    return current().translations.gettext(message)


def _raw_ngettext(singular: str, plural: str, n: int) -> str:
    return current().translations.ngettext(singular, plural, n)


def _raw_pgettext(context: str, message: str) -> str:
    return current().translations.pgettext(context, message)


def _raw_npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return current().translations.npgettext(context, singular, plural, n)


def gettext(message: str, **variables: Any) -> str:
    """``message`` in the current language, ``%(name)s`` placeholders filled from ``variables``
    (always formatted, as in the templates: a literal ``%`` is written ``%%``)."""
    return _raw_gettext(message) % variables


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The form for ``n`` in the current language; ``%(num)d`` is ``n``."""
    return _raw_ngettext(singular, plural, n) % {"num": n, **variables}


def N_(message: str) -> str:
    """Mark a constant for the catalog without translating it: it is translated where it is shown
    (``gettext(value)`` in Python, ``_(value)`` in a template), in that request's language."""
    return message


_ = gettext


def install(env: jinja2.Environment) -> None:
    """Jinja's i18n extension with new-style gettext, reading the current request's language."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _raw_gettext, _raw_ngettext, newstyle=True, pgettext=_raw_pgettext, npgettext=_raw_npgettext
    )
    env.filters["when"] = format_when
    env.filters["ago"] = format_ago
    env.filters["local_input"] = local_input


# -- dates -----------------------------------------------------------------------------------------
def _parse(rfc3339: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _zone(tz: str) -> dt.tzinfo:
    from .render import zone_of

    return zone_of(tz)


def datetime_label(t: dt.datetime, tz: str | dt.tzinfo = "UTC") -> str:
    """A moment as the viewer's language writes it, in zone ``tz``: ``Jun 15, 2021, 10:00`` or
    ``2021年6月15日 10:00`` (24-hour clock)."""
    locale = current().locale
    local = t.astimezone(_zone(tz) if isinstance(tz, str) else tz)
    day = format_skeleton("yMMMd", local, locale=locale)
    clock = format_skeleton("Hm", local, locale=locale)
    return str(locale.datetime_formats["medium"]).replace("{1}", day).replace("{0}", clock)


def date_label(day: dt.date) -> str:
    """``Jun 15, 2021`` / ``2021年6月15日``."""
    return format_skeleton("yMMMd", dt.datetime(day.year, day.month, day.day), locale=current().locale)


def month_label(day: dt.date, *, with_year: bool = True) -> str:
    """``June 2021`` / ``2021年6月``, or without the year ``June`` / ``六月``."""
    locale = current().locale
    if with_year:
        return format_skeleton("yMMMM", dt.datetime(day.year, day.month, 1), locale=locale)
    return str(get_month_names("wide", context="stand-alone", locale=locale)[day.month])


def weekday_names(first: int = 6) -> list[dict[str, str]]:
    """The week's days from ``first`` (0 Monday ... 6 Sunday): ``{"short", "narrow", "wide"}``."""
    locale = current().locale
    names = {width: get_day_names(width, locale=locale) for width in ("short", "narrow", "wide")}
    return [{width: str(names[width][(first + i) % 7]) for width in names} for i in range(7)]


def format_when(rfc3339: str, tz: str = "UTC") -> str:
    """``2021-06-15T08:00:00Z`` -> ``Jun 15, 2021, 10:00`` in the viewer's zone and language."""
    t = _parse(rfc3339)
    return rfc3339 if t is None else datetime_label(t, tz)


def ago_label(t: dt.datetime, tz: str | dt.tzinfo = "UTC", now: dt.datetime | None = None) -> str:
    """Within the last day, how long ago (``3 hours ago``, ``3小时前``); older, the date and time."""
    delta = t - (now or dt.datetime.now(dt.UTC))
    if dt.timedelta(days=-1) < delta <= dt.timedelta(seconds=30):
        if delta > dt.timedelta(minutes=-1):
            return gettext("just now")
        return format_timedelta(delta, add_direction=True, threshold=1, locale=current().locale)
    return datetime_label(t, tz)


def format_ago(rfc3339: str, tz: str = "UTC") -> str:
    t = _parse(rfc3339)
    return rfc3339 if t is None else ago_label(t, tz)


def local_input(rfc3339: str, tz: str = "UTC") -> str:
    """The value of a ``datetime-local`` input: ``2021-06-15T10:00`` in zone ``tz`` (never localised)."""
    t = _parse(rfc3339)
    return rfc3339 if t is None else t.astimezone(_zone(tz)).strftime("%Y-%m-%dT%H:%M")


def medium_datetime(t: dt.datetime) -> str:
    """A full date and time for a tooltip, with seconds and zone."""
    return format_datetime(t, "medium", locale=current().locale)


# -- the scripts' catalog --------------------------------------------------------------------------
routes = web.RouteTableDef()


@routes.get("/web/i18n/{lang}.js", name="static.web.i18n")
async def script_catalog(request: web.Request) -> web.Response:
    """The page scripts' messages in one language. The page links it with ``?v=<etag>``, so that URL
    is cached for good; any other is revalidated by its ETag."""
    code = request.match_info["lang"]
    if code not in LANGUAGES:
        raise web.HTTPNotFound()
    lang = language(code)
    etag = f'"{lang.etag}"'
    versioned = request.query.get("v") == lang.etag
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable" if versioned else "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=lang.script, content_type="text/javascript", charset="utf-8", headers=headers)
