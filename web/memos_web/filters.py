"""The sidebar's filters: URL parameters <-> chips <-> ListMemos' ``filter`` and ``search``.

State lives in the URL (``?tag=work&text=plan&mode=text&day=2026-12-06&pinned=1&has=task``) so a
filtered page can be bookmarked and shared. The search box's words (``text``) are ListMemos'
``search`` (ranked, best match first, in the search mode ``mode``); every other chip becomes one CEL
term, and the terms combine with ``&&`` into the ``filter`` ANDed with the search, so the filter
plugin compiles them to SQL like any API client's filter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from urllib.parse import urlencode

from aiohttp import web

from memos_core.search_modes import TEXT

from .i18n import N_
from .i18n import gettext as _
from .render import zone_of

#: ``has=`` values and the memo property each one tests.
HAS = {"link": "has_link", "task": "has_task_list", "code": "has_code", "todo": "has_incomplete_tasks"}
#: What a ``has=`` chip says (translated when drawn).
HAS_LABELS = {"link": N_("Has link"), "task": N_("Has task list"), "code": N_("Has code"), "todo": N_("Open tasks")}
VISIBILITIES = ("PUBLIC", "PROTECTED", "PRIVATE")
KEYS = ("text", "mode", "tag", "day", "month", "pinned", "has", "visibility")
#: What the built-in search mode is called in the UI (plugins' modes bring their own label).
TEXT_LABEL = N_("Words")


@dataclasses.dataclass(frozen=True)
class Chip:
    key: str
    value: str
    label: str
    remove_url: str


def cel_string(value: str) -> str:
    """A CEL string literal (JSON escaping is valid CEL for every character)."""
    return json.dumps(value, ensure_ascii=False)


def _day_range(day: str, tz: str) -> tuple[int, int] | None:
    try:
        start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=zone_of(tz))
    except ValueError:
        return None
    return int(start.timestamp()), int((start + dt.timedelta(days=1)).timestamp())


def _month_range(month: str, tz: str) -> tuple[int, int] | None:
    try:
        start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=zone_of(tz))
    except ValueError:
        return None
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return int(start.timestamp()), int(end.timestamp())


class Filters:
    """The active filters of a list page."""

    def __init__(self, query: web.MultiDictProxy | dict, tz: str = "UTC", modes: dict[str, str] | None = None) -> None:
        """``modes``: the installed search modes (name -> label); a ``mode`` that is not one of them
        (a link made while a plugin was installed) is dropped, so the words search as text."""
        self.tz = tz
        self.modes = modes or {TEXT: TEXT_LABEL}
        self.values: list[tuple[str, str]] = []
        for key in KEYS:
            for value in query.getall(key, []) if hasattr(query, "getall") else [query.get(key, "")]:
                value = (value or "").strip()
                if key == "mode" and (value == TEXT or value not in self.modes or self.get("mode")):
                    continue  # the default needs no parameter; one mode at most
                if value and (key, value) not in self.values:
                    self.values.append((key, value))
        if self.search is None:
            self.values = [kv for kv in self.values if kv[0] != "mode"]  # a mode without words means nothing

    def get(self, key: str) -> str:
        return next((v for k, v in self.values if k == key), "")

    @property
    def search(self) -> str | None:
        """The search box's words for ListMemos' ``search``, or ``None`` when nothing was typed."""
        words = " ".join(v for k, v in self.values if k == "text")
        return words or None

    @property
    def search_mode(self) -> str:
        """The chosen search mode (``"text"`` unless another installed one was picked)."""
        return self.get("mode") or TEXT

    def mode_label(self, name: str) -> str:
        return _(TEXT_LABEL) if name == TEXT else self.modes.get(name, name)

    def terms(self, *, words: bool = False) -> list[str]:
        """The CEL terms of the chips; the search box's words only with ``words`` (as
        ``content.contains``), since a list page sends them as ``search``."""
        out: list[str] = []
        for key, value in self.values:
            if key == "text":
                if words:
                    out += [f"content.contains({cel_string(word)})" for word in value.split()]
            elif key == "tag":
                out.append(f"tag in [{cel_string(value.lstrip('#'))}]")
            elif key in ("day", "month"):
                window = _day_range(value, self.tz) if key == "day" else _month_range(value, self.tz)
                if window:
                    out.append(f"created_ts >= {window[0]} && created_ts < {window[1]}")
            elif key == "pinned" and value in ("1", "true"):
                out.append("pinned")
            elif key == "has" and value in HAS:
                out.append(HAS[value])
            elif key == "visibility" and value.upper() in VISIBILITIES:
                out.append(f"visibility == {cel_string(value.upper())}")
        return out

    def expression(self, *extra: str, words: bool = False) -> str:
        """The ``filter`` of the chips and ``extra`` terms. ``words`` adds the search box's words as
        substring conditions: a saved shortcut holds a filter only, and CEL has no ranked search."""
        terms = [t for t in (*extra, *self.terms(words=words)) if t]
        return " && ".join(f"({t})" for t in terms)

    def url(self, path: str, *, without: tuple[str, str] | None = None, add: tuple[str, str] | None = None) -> str:
        values = [kv for kv in self.values if kv != without]
        if not any(k == "text" for k, _v in values):
            values = [kv for kv in values if kv[0] != "mode"]
        if add and add not in values:
            values = [kv for kv in values if kv[0] != add[0] or add[0] in ("tag", "text")] + [add]
        return path + ("?" + urlencode(values) if values else "")

    def chips(self, path: str) -> list[Chip]:
        labels = {"text": "“{}”", "tag": "#{}", "day": "{}", "month": "{}", "visibility": "{}"}
        chips = []
        for key, value in self.values:
            if key == "mode":
                continue  # shown on the search's chip, and cleared with it
            if key == "pinned":
                label = _("Pinned")
            elif key == "has":
                label = _(HAS_LABELS[value]) if value in HAS_LABELS else value
            else:
                label = labels[key].format(value.lstrip("#") if key == "tag" else value)
            if key == "text" and self.get("mode"):
                label = _("%(words)s (%(mode)s)", words=label, mode=self.mode_label(self.search_mode))
            chips.append(Chip(key, value, label, self.url(path, without=(key, value))))
        return chips

    def __bool__(self) -> bool:
        return bool(self.values)
