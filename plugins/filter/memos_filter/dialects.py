"""The database-specific pieces of filter rendering, kept in one place.

Everything else in the compiler is dialect-neutral SQLAlchemy; only JSON access, case-insensitive
matching and timestamp columns differ between SQLite, PostgreSQL and MySQL.

Tags are matched as text over the JSON array (``["a","b/c"]``), as upstream does. The needle is the
tag's own JSON encoding (so quotes and backslashes inside a tag match how they are stored) with the
LIKE wildcards ``%`` and ``_`` escaped. The JSON text of a missing ``tags`` key is taken as ``[]``
so that negated tag conditions still match untagged memos.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

ESCAPE = "!"
"""The LIKE escape character; not a backslash, so no dialect needs its string literals double-escaped."""


def escape_like(text: str) -> str:
    """Make ``text`` match itself literally inside a LIKE pattern."""
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def json_string(text: str) -> str:
    """The JSON encoding of ``text`` as stored in payloads (raw unicode, quotes included)."""
    return json.dumps(text, ensure_ascii=False)


def json_inner(text: str) -> str:
    """The JSON encoding of ``text`` without the surrounding quotes, for partial matches."""
    return json_string(text)[1:-1]


class Dialect:
    """SQLite rendering; the base the other dialects override."""

    name = "sqlite"

    def timestamp(self, column: ColumnElement) -> ColumnElement:
        """A unix-seconds timestamp column as an integer expression."""
        return column

    def icontains(self, column: ColumnElement, needle: str) -> ColumnElement[bool]:
        """Case-insensitive substring match (the SQLite driver registers ``memos_unicode_lower``)."""
        pattern = sa.literal(f"%{escape_like(needle)}%")
        return sa.func.memos_unicode_lower(column).like(sa.func.memos_unicode_lower(pattern), escape=ESCAPE)

    def tags_text(self, payload: ColumnElement) -> ColumnElement:
        """The JSON text of ``payload.tags``, ``[]`` when absent."""
        return sa.func.coalesce(sa.func.JSON_EXTRACT(payload, "$.tags"), "[]")

    def tags_like(self, payload: ColumnElement, pattern: str) -> ColumnElement[bool]:
        """``pattern`` (already escaped) matched against the tags' JSON text."""
        return self.tags_text(payload).like(pattern, escape=ESCAPE)

    def has_tag(self, payload: ColumnElement, tag: str) -> ColumnElement[bool]:
        """``tag`` is one of the memo's tags, exactly."""
        return self.tags_like(payload, f"%{escape_like(json_string(tag))}%")

    def tags_size(self, payload: ColumnElement) -> ColumnElement:
        """The number of tags, 0 when absent."""
        return sa.func.JSON_ARRAY_LENGTH(
            sa.func.coalesce(sa.func.JSON_EXTRACT(payload, "$.tags"), sa.func.JSON_ARRAY())
        )

    def property_true(self, payload: ColumnElement, key: str) -> ColumnElement[bool]:
        """``payload.property.<key>`` is JSON ``true`` (false values are omitted from the payload)."""
        return sa.func.JSON_EXTRACT(payload, f"$.property.{key}").is_(sa.true())


class PostgresDialect(Dialect):
    """PostgreSQL: jsonb operators and ILIKE."""

    name = "postgresql"

    @staticmethod
    def _json(payload: ColumnElement) -> ColumnElement:
        return sa.cast(payload, JSONB)

    def icontains(self, column: ColumnElement, needle: str) -> ColumnElement[bool]:
        return column.ilike(f"%{escape_like(needle)}%", escape=ESCAPE)

    def _tags(self, payload: ColumnElement) -> ColumnElement:
        return sa.func.coalesce(
            self._json(payload).op("->")(sa.literal("tags", sa.Text)), sa.cast(sa.literal("[]", sa.Text), JSONB)
        )

    def tags_text(self, payload: ColumnElement) -> ColumnElement:
        return sa.cast(self._tags(payload), sa.Text)

    def has_tag(self, payload: ColumnElement, tag: str) -> ColumnElement[bool]:
        return self._tags(payload).op("@>", is_comparison=True)(sa.cast(sa.literal(json.dumps([tag]), sa.Text), JSONB))

    def tags_size(self, payload: ColumnElement) -> ColumnElement:
        return sa.func.jsonb_array_length(self._tags(payload))

    def property_true(self, payload: ColumnElement, key: str) -> ColumnElement[bool]:
        value = self._json(payload).op("->")(sa.literal("property", sa.Text)).op("->>")(sa.literal(key, sa.Text))
        return sa.cast(value, sa.Boolean).is_(sa.true())


class MySQLDialect(Dialect):
    """MySQL: JSON functions, TIMESTAMP columns, collation-dependent LIKE."""

    name = "mysql"

    def timestamp(self, column: ColumnElement) -> ColumnElement:
        return sa.func.UNIX_TIMESTAMP(column)

    def icontains(self, column: ColumnElement, needle: str) -> ColumnElement[bool]:
        return column.like(f"%{escape_like(needle)}%", escape=ESCAPE)

    @staticmethod
    def _tags(payload: ColumnElement) -> ColumnElement:
        return sa.func.coalesce(sa.func.JSON_EXTRACT(payload, "$.tags"), sa.func.JSON_ARRAY())

    def tags_text(self, payload: ColumnElement) -> ColumnElement:
        return sa.cast(self._tags(payload), sa.String)

    def has_tag(self, payload: ColumnElement, tag: str) -> ColumnElement[bool]:
        return sa.func.JSON_CONTAINS(self._tags(payload), json_string(tag)) == 1

    def tags_size(self, payload: ColumnElement) -> ColumnElement:
        return sa.func.JSON_LENGTH(self._tags(payload))

    def property_true(self, payload: ColumnElement, key: str) -> ColumnElement[bool]:
        # JSON_CONTAINS compares as JSON on MySQL and MariaDB alike (MariaDB has no CAST(... AS JSON));
        # it is NULL when the key is absent.
        return sa.func.coalesce(sa.func.JSON_CONTAINS(payload, "true", f"$.property.{key}"), 0) == 1


DIALECTS: dict[str, Dialect] = {d.name: d for d in (Dialect(), PostgresDialect(), MySQLDialect())}
