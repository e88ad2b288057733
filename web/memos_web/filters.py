"""The sidebar's filters: URL parameters <-> chips <-> one CEL expression for ListMemos.

State lives in the URL (``?tag=work&text=plan&day=2026-12-06&pinned=1&has=task``) so a filtered
page can be bookmarked and shared. Every chip becomes one CEL term; terms combine with ``&&``,
so the filter plugin compiles them to SQL like any API client's filter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from urllib.parse import urlencode

from aiohttp import web

from .i18n import N_
from .i18n import gettext as _
from .render import zone_of

#: ``has=`` values and the memo property each one tests.
HAS = {"link": "has_link", "task": "has_task_list", "code": "has_code", "todo": "has_incomplete_tasks"}
#: What a ``has=`` chip says (translated when drawn).
HAS_LABELS = {"link": N_("Has link"), "task": N_("Has task list"), "code": N_("Has code"), "todo": N_("Open tasks")}
VISIBILITIES = ("PUBLIC", "PROTECTED", "PRIVATE")
KEYS = ("text", "tag", "day", "month", "pinned", "has", "visibility")


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

    def __init__(self, query: web.MultiDictProxy | dict, tz: str = "UTC") -> None:
        self.tz = tz
        self.values: list[tuple[str, str]] = []
        for key in KEYS:
            for value in query.getall(key, []) if hasattr(query, "getall") else [query.get(key, "")]:
                value = (value or "").strip()
                if value and (key, value) not in self.values:
                    self.values.append((key, value))

    def get(self, key: str) -> str:
        return next((v for k, v in self.values if k == key), "")

    def terms(self) -> list[str]:
        out: list[str] = []
        for key, value in self.values:
            if key == "text":
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

    def expression(self, *extra: str) -> str:
        terms = [t for t in (*extra, *self.terms()) if t]
        return " && ".join(f"({t})" for t in terms)

    def url(self, path: str, *, without: tuple[str, str] | None = None, add: tuple[str, str] | None = None) -> str:
        values = [kv for kv in self.values if kv != without]
        if add and add not in values:
            values = [kv for kv in values if kv[0] != add[0] or add[0] in ("tag", "text")] + [add]
        return path + ("?" + urlencode(values) if values else "")

    def chips(self, path: str) -> list[Chip]:
        labels = {"text": "“{}”", "tag": "#{}", "day": "{}", "month": "{}", "visibility": "{}"}
        chips = []
        for key, value in self.values:
            if key == "pinned":
                label = _("Pinned")
            elif key == "has":
                label = _(HAS_LABELS[value]) if value in HAS_LABELS else value
            else:
                label = labels[key].format(value.lstrip("#") if key == "tag" else value)
            chips.append(Chip(key, value, label, self.url(path, without=(key, value))))
        return chips

    def __bool__(self) -> bool:
        return bool(self.values)
