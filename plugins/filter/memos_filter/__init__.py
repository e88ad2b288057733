"""memos-filter: the Memos filter language (CEL subset) compiled to SQLAlchemy clauses.

The plugin implements ``memos_compile_filter`` for the ``memo`` and ``attachment`` scopes. Other
code may use :func:`compile_filter` and :func:`validate` directly (shortcuts validate their filter
when saved, before any query runs).

The compiler (and cel-python and lark under it, about 20 MiB) is imported at the first filter
compiled, not when the plugin registers its hook at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memos_core import hookimpl

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

__all__ = ["SCOPES", "compile_filter", "memos_compile_filter", "validate"]


def __getattr__(name: str) -> Any:
    if name == "SCOPES":  # the compiler's table of scopes, loaded on demand like the compiler
        from .compiler import SCOPES

        return SCOPES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def compile_filter(
    expression: str, scope: str = "memo", dialect: str = "sqlite", now: int | None = None
) -> ColumnElement[bool]:
    """:func:`memos_filter.compiler.compile_filter`, importing the compiler on first use. In the
    ``memo`` scope, ``tag:NAME`` / ``content:WORD`` shorthands are accepted too (:mod:`.shorthand`)."""
    from .compiler import compile_filter as compile_

    if scope == "memo":
        from .shorthand import expand

        expression = expand(expression) or expression
    return compile_(expression, scope, dialect, now)


def validate(expression: str, scope: str = "memo") -> None:
    """Raise ``ApiError(INVALID_ARGUMENT)`` unless ``expression`` is a supported filter for ``scope``."""
    compile_filter(expression, scope, "sqlite", now=0)


@hookimpl
def memos_compile_filter(expression: str, scope: str, context: dict) -> Any:
    """Compile for ``context["dialect"]`` (default sqlite); ``context["now"]`` may pin ``now()``.

    Returns None for scopes this plugin does not know, so another plugin may handle them.
    """
    from .compiler import SCOPES

    if scope not in SCOPES:
        return None
    context = context or {}
    return compile_filter(expression, scope, context.get("dialect", "sqlite"), context.get("now"))
