"""Compile a Memos filter (a CEL subset) into a SQLAlchemy boolean clause.

The expression is parsed by cel-python into a lark tree, which is walked here: conditions become
SQL, operands become either a field reference or a constant (literals, lists, ``now()`` and integer
arithmetic fold in Python). Whatever the walk does not recognise is rejected with a 400
``invalid filter: <what> at position <n>`` (1-based character offset), so an unsupported filter is
never a server error and never silently matches everything.

Differences from upstream Memos, on purpose:

* ``%`` and ``_`` in user literals are escaped in every LIKE pattern (upstream lets them act as
  wildcards, so ``tags.exists(t, t.startsWith("a_"))`` also matched ``abc``).
* Tag needles are JSON-encoded, so tags with quotes or backslashes match as stored.
* Tag conditions read a missing ``tags`` key as ``[]``, so ``!("x" in tags)`` keeps untagged memos.
* ``has_task_list == false`` means "not true" like the other properties (upstream renders ``= 0``
  there, which matches nothing on SQLite because false values are omitted from the payload).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
import time
from collections.abc import Callable
from typing import Any

import celpy
import sqlalchemy as sa
from celpy.celparser import CELParseError, CELParser
from celpy.evaluation import celstr
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedToken
from sqlalchemy.sql.elements import ColumnElement

from memos_core import ApiError, Code, tables

from .dialects import DIALECTS, Dialect, escape_like, json_inner

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_EXPECTED = 16

# Precedence levels that are single-child wrappers in celpy's tree.
_WRAPPERS = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary", "member", "primary"}
)
_RELATIONS = {
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_in": "in",
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITHMETIC = {
    "addition_add": ("+", operator.add),
    "addition_sub": ("-", operator.sub),
    "multiplication_mul": ("*", operator.mul),
    "multiplication_div": ("/", None),
    "multiplication_mod": ("%", None),
}
_NOT_SUPPORTED = {
    "member_dot": "field selection",
    "member_index": "indexing",
    "member_object": "message construction",
    "map_lit": "map literals",
    "dot_ident": "leading-dot names",
    "dot_ident_arg": "leading-dot calls",
}
# How parse errors name what was expected; None hides what the filter language rejects anyway.
_TERMINALS: dict[str, str | None] = {
    "IDENT": "a name",
    "INT_LIT": "an integer",
    "UINT_LIT": None,
    "FLOAT_LIT": None,
    "STRING_LIT": "a string",
    "MLSTRING_LIT": "a string",
    "BYTES_LIT": None,
    "BOOL_LIT": "true or false",
    "NULL_LIT": "null",
    "LBRACE": None,
    "DOT": None,
}

EQ = frozenset({"==", "!="})
EQ_IN = frozenset({"==", "!=", "in"})
ORDERED = frozenset({"==", "!=", "<", "<=", ">", ">="})


@dataclasses.dataclass(frozen=True)
class Field:
    """A filterable identifier: how it is rendered (``kind``), its CEL type and its operators."""

    kind: str  # column | timestamp | bool | property | creator | tags | tag | size
    type: str  # string | int | bool | list
    ops: frozenset[str] = frozenset()
    column: str = ""  # the table column, or the payload property key
    nullable: bool = False
    contains: bool = False
    hint: str = ""


@dataclasses.dataclass(frozen=True)
class Scope:
    table: sa.Table
    fields: dict[str, Field]


_TAGS_HINT = 'tags supports "x" in tags, size(tags) and tags.exists(t, ...)'
_SIZE = Field("size", "int", ORDERED)

SCOPES: dict[str, Scope] = {
    "memo": Scope(
        tables.memo,
        {
            "content": Field("column", "string", ORDERED | {"in"}, "content", contains=True),
            "creator": Field("creator", "string", EQ_IN),
            "creator_id": Field("column", "int", EQ_IN, "creator_id"),
            "created_ts": Field("timestamp", "int", ORDERED, "created_ts"),
            "updated_ts": Field("timestamp", "int", ORDERED, "updated_ts"),
            "pinned": Field("bool", "bool", EQ, "pinned"),
            "visibility": Field("column", "string", EQ_IN, "visibility"),
            "tags": Field("tags", "list", hint=_TAGS_HINT),
            "tag": Field("tag", "string", frozenset({"in"}), hint='tag supports only tag in ["x", ...]'),
            "has_task_list": Field("property", "bool", EQ, "hasTaskList"),
            "has_link": Field("property", "bool", EQ, "hasLink"),
            "has_code": Field("property", "bool", EQ, "hasCode"),
            "has_incomplete_tasks": Field("property", "bool", EQ, "hasIncompleteTasks"),
        },
    ),
    "attachment": Scope(
        tables.attachment,
        {
            "filename": Field("column", "string", EQ_IN, "filename", contains=True),
            "mime_type": Field("column", "string", EQ_IN, "type"),
            "create_time": Field("timestamp", "int", ORDERED, "created_ts"),
            "memo_id": Field("column", "int", EQ_IN, "memo_id", nullable=True),
        },
    ),
}


@dataclasses.dataclass(frozen=True)
class Const:
    value: Any  # int | str | bool | None | tuple[Const, ...]
    type: str  # int | string | bool | null | list
    pos: int


@dataclasses.dataclass(frozen=True)
class Ref:
    name: str
    field: Field
    pos: int


class NeedsNow(Exception):
    """Raised while compiling for the cache: the clause depends on the current time."""


def invalid(what: str, pos: int) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, f"invalid filter: {what} at position {pos}")


def _a(type_: str) -> str:
    return {"int": "an integer", "string": "a string", "bool": "a bool", "null": "null", "list": "a list"}[type_]


# ---------------------------------------------------------------------------------------------------- parsing

_environment: celpy.Environment | None = None


@functools.lru_cache(maxsize=1024)
def parse(expression: str) -> Tree:
    """Parse once per distinct expression; parse errors become a 400 naming what was expected."""
    global _environment
    if not expression.strip():
        raise invalid("empty expression", 1)
    if _environment is None:
        _environment = celpy.Environment()
    try:
        tree = _environment.compile(expression)
    except CELParseError as e:
        raise _parse_error(expression, e) from None
    _locate_bool_literals(expression, tree)
    return tree


def _parse_error(text: str, error: CELParseError) -> ApiError:
    cause = error.__context__
    if isinstance(cause, UnexpectedToken):
        if cause.token.type == "$END":
            found, pos = "unexpected end of input", len(text) + 1
        else:
            found, pos = f"unexpected {cause.token.value!r}", cause.token.start_pos + 1
        expected = cause.expected
    elif isinstance(cause, UnexpectedCharacters):
        found, pos, expected = f"unexpected character {cause.char!r}", cause.pos_in_stream + 1, cause.allowed
    else:
        lines = text.splitlines(keepends=True)
        line, column = error.line or 1, error.column or 1
        found, pos, expected = "syntax error", sum(len(x) for x in lines[: line - 1]) + column, set()
    names = sorted({name for name in map(_terminal_name, expected or ()) if name})
    if not names or len(names) > MAX_EXPECTED:  # after a complete operand almost anything may follow
        return invalid(found, pos)
    return invalid(f"{found}, expected {', '.join(names)}", pos)


def _terminal_name(terminal: str) -> str | None:
    if terminal in _TERMINALS:
        return _TERMINALS[terminal]
    try:
        pattern = CELParser.CEL_PARSER.get_terminal(terminal).pattern  # type: ignore[union-attr]
    except (AttributeError, KeyError):
        return terminal.lower()
    return repr(pattern.value) if pattern.type == "str" else terminal.lower()


def _tokens(node: Tree | Token) -> list[Token]:
    if isinstance(node, Token):
        return [node]
    return [t for child in node.children for t in _tokens(child)]


def _locate_bool_literals(text: str, tree: Tree) -> None:
    """celpy re-creates ``true``/``false`` tokens without positions; find them again for error messages.

    Tokens appear in source order, and only punctuation the tree drops can sit between two of them.
    """
    end = 0
    for token in _tokens(tree):
        if token.start_pos is None:
            match = re.compile(rf"\b{re.escape(token.value)}\b").search(text, end)
            token.start_pos = match.start() if match else end
            token.end_pos = match.end() if match else end
        end = token.end_pos or end


def _pos(node: Tree | Token) -> int:
    """The 1-based position of ``node`` in the source."""
    if isinstance(node, Tree) and not node.meta.empty and getattr(node.meta, "start_pos", None) is not None:
        return node.meta.start_pos + 1
    for token in _tokens(node):
        if token.start_pos is not None:
            return token.start_pos + 1
    return 1


def _unwrap(node: Tree | Token) -> Tree | Token:
    while isinstance(node, Tree) and node.data in _WRAPPERS and len(node.children) == 1:
        node = node.children[0]
    return node


# ---------------------------------------------------------------------------------------------------- compiling


class Compiler:
    """One walk of a parsed filter for a scope and dialect; ``now`` None means "raise NeedsNow"."""

    def __init__(self, scope: Scope, dialect: Dialect, now: int | None) -> None:
        self.scope = scope
        self.table = scope.table
        self.dialect = dialect
        self.now = now

    # -- conditions

    def condition(self, node: Tree | Token) -> ColumnElement[bool]:
        node = _unwrap(node)
        kind = node.data if isinstance(node, Tree) else node.type
        if kind == "conditionalor":
            return sa.or_(self.condition(node.children[0]), self.condition(node.children[1]))
        if kind == "conditionaland":
            return sa.and_(self.condition(node.children[0]), self.condition(node.children[1]))
        if kind == "paren_expr":
            return self.condition(node.children[0])
        if kind == "unary" and node.children[0].data == "unary_not":
            return sa.not_(self.condition(node.children[1]))
        if kind == "relation":
            return self.relation(node)
        if kind == "member_dot_arg":
            return self.method(node)
        if kind == "ident":
            ref = self.ref(node)
            if ref.field.type != "bool":
                raise invalid(f"{ref.name} is not a condition; compare it with a value", ref.pos)
            return self.truth(ref)
        if kind == "literal" and node.children[0].type == "BOOL_LIT":
            return sa.true() if node.children[0].value == "true" else sa.false()
        value = self.operand(node)  # raises for anything unsupported; what is left is a non-bool value
        raise invalid(f"{_a(value.type) if isinstance(value, Const) else value.name} is not a condition", value.pos)

    def truth(self, ref: Ref) -> ColumnElement[bool]:
        if ref.field.kind == "bool":
            return self.table.c[ref.field.column].is_(sa.true())
        return self.dialect.property_true(self.table.c.payload, ref.field.column)

    def relation(self, node: Tree) -> ColumnElement[bool]:
        op_node, right = node.children
        op = _RELATIONS[op_node.data]
        left = op_node.children[0]
        if op == "in":
            return self.membership(left, right)
        lhs, rhs = self.operand(left), self.operand(right)
        if not isinstance(lhs, Ref):
            raise invalid(f"the left-hand side of '{op}' must be a field", lhs.pos)
        if not isinstance(rhs, Const):
            raise invalid(f"the right-hand side of '{op}' must be a literal, not {rhs.name}", rhs.pos)
        field = lhs.field
        if op not in field.ops:
            raise invalid(field.hint or f"'{op}' is not supported on {lhs.name}", lhs.pos)
        if rhs.type == "null":
            if not field.nullable:
                raise invalid(f"{lhs.name} cannot be null", rhs.pos)
            column = self.table.c[field.column]
            return column.is_(None) if op == "==" else column.is_not(None)
        if rhs.type != field.type:
            raise invalid(f"{lhs.name} is {_a(field.type)}, not {_a(rhs.type)}", rhs.pos)
        return self.compare(field, op, rhs.value)

    def compare(self, field: Field, op: str, value: Any) -> ColumnElement[bool]:
        if field.kind == "property":
            truth = self.dialect.property_true(self.table.c.payload, field.column)
            return truth if value == (op == "==") else sa.not_(truth)
        if field.kind == "creator":
            mine = self.creator_in([value])
            return mine if op == "==" else sa.not_(mine)
        if field.kind == "size":
            return _COMPARE[op](self.dialect.tags_size(self.table.c.payload), value)
        column = self.table.c[field.column]
        if field.kind == "timestamp":
            column = self.dialect.timestamp(column)
        return _COMPARE[op](column, value)

    def creator_in(self, names: list[str]) -> ColumnElement[bool]:
        """Creators by resource name, via a subquery on ``user`` so the caller needs no join."""
        usernames = [n.removeprefix("users/") for n in names if n.startswith("users/") and len(n) > len("users/")]
        if not usernames:
            return sa.false()
        # An alias of its own, uncorrelated: it stays independent of any join on ``user`` in the caller's query.
        users = tables.user.alias("filter_creator")
        ids = sa.select(users.c.id).where(users.c.username.in_(usernames)).correlate(None)
        return self.table.c.creator_id.in_(ids)

    def membership(self, left: Tree | Token, right: Tree | Token) -> ColumnElement[bool]:
        target = _unwrap(right)
        if isinstance(target, Tree) and target.data == "ident" and self.ref(target).field.kind == "tags":
            item = self.operand(left)
            if not (isinstance(item, Const) and item.type == "string"):
                raise invalid('only a string literal can be tested with "in tags"', item.pos)
            return self.dialect.has_tag(self.table.c.payload, item.value)
        lhs = self.operand(left)
        if not isinstance(lhs, Ref):
            raise invalid("the left-hand side of 'in' must be a field (or a string with in tags)", lhs.pos)
        field = lhs.field
        if "in" not in field.ops:
            raise invalid(field.hint or f"'in' is not supported on {lhs.name}", lhs.pos)
        rhs = self.operand(right)
        if not (isinstance(rhs, Const) and rhs.type == "list"):
            raise invalid("the right-hand side of 'in' must be a list literal", rhs.pos)
        for item in rhs.value:
            if item.type != field.type:
                raise invalid(f"{lhs.name} is {_a(field.type)}, not {_a(item.type)}", item.pos)
        values = [item.value for item in rhs.value]
        if field.kind == "creator":
            return self.creator_in(values)
        if field.kind == "tag":
            payload = self.table.c.payload
            return sa.or_(
                sa.false(),
                *(
                    sa.or_(
                        self.dialect.has_tag(payload, v),
                        self.dialect.tags_like(payload, f'%"{escape_like(json_inner(v))}/%'),
                    )
                    for v in values
                ),
            )
        return self.table.c[field.column].in_(values)

    def method(self, node: Tree) -> ColumnElement[bool]:
        receiver, name = _unwrap(node.children[0]), node.children[1]
        args = node.children[2].children if len(node.children) > 2 else []
        pos = name.start_pos + 1
        if not (isinstance(receiver, Tree) and receiver.data == "ident"):
            raise invalid(f"{name}() is supported only on a field", pos)
        ref = self.ref(receiver)
        if name in ("exists", "all", "exists_one", "map", "filter"):
            if ref.field.kind != "tags":
                raise invalid(f"{name}() applies only to tags", pos)
            if name != "exists":
                raise invalid(f"tags.{name}() is not supported; use tags.exists()", pos)
            return self.exists(args, pos)
        if name == "matches":
            raise invalid("regular expressions are not supported", pos)
        if name != "contains" or not ref.field.contains:
            raise invalid(f"{ref.name}.{name}() is not supported", pos)
        needle = self.string_argument(args, f"{name}()", pos)
        return self.dialect.icontains(self.table.c[ref.field.column], needle)

    def string_argument(self, args: list, what: str, pos: int) -> str:
        if len(args) != 1:
            raise invalid(f"{what} takes one argument", pos)
        value = self.operand(args[0])
        if not (isinstance(value, Const) and value.type == "string"):
            raise invalid(f"the argument of {what} must be a string literal", value.pos)
        return value.value

    def exists(self, args: list, pos: int) -> ColumnElement[bool]:
        """``tags.exists(t, <one predicate on t>)`` as LIKE over the tags' JSON text."""
        shape = 'tags.exists() takes (t, t == "x" | t.startsWith("x") | t.endsWith("x") | t.contains("x"))'
        if len(args) != 2:
            raise invalid(shape, pos)
        var, body = _unwrap(args[0]), _unwrap(args[1])
        if not (isinstance(var, Tree) and var.data == "ident"):
            raise invalid(shape, _pos(var))
        name = var.children[0].value

        def is_var(n: Tree | Token) -> bool:
            n = _unwrap(n)
            return isinstance(n, Tree) and n.data == "ident" and n.children[0].value == name

        payload = self.table.c.payload
        non_empty = self.dialect.tags_text(payload) != "[]"
        if isinstance(body, Tree) and body.data == "relation" and body.children[0].data == "relation_eq":
            op_node, right = body.children
            if is_var(op_node.children[0]):
                tag = self.string_argument([right], "'=='", _pos(right))
                return sa.and_(non_empty, self.dialect.has_tag(payload, tag))
        if isinstance(body, Tree) and body.data == "member_dot_arg" and is_var(body.children[0]):
            method = body.children[1]
            args = body.children[2].children if len(body.children) > 2 else []
            patterns = {"startsWith": '%"{}%', "endsWith": '%{}"%', "contains": "%{}%"}
            if method in patterns:
                text = self.string_argument(args, f"{method}()", method.start_pos + 1)
                pattern = patterns[method].format(escape_like(json_inner(text)))
                return sa.and_(non_empty, self.dialect.tags_like(payload, pattern))
        raise invalid(shape, _pos(body))

    # -- operands

    def ref(self, node: Tree) -> Ref:
        token = node.children[0]
        field = self.scope.fields.get(token.value)
        if field is None:
            raise invalid(f"unknown identifier '{token.value}'", token.start_pos + 1)
        return Ref(token.value, field, token.start_pos + 1)

    def operand(self, node: Tree | Token) -> Const | Ref:
        node = _unwrap(node)
        pos = _pos(node)
        kind = node.data if isinstance(node, Tree) else node.type
        if kind == "ident":
            return self.ref(node)
        if kind == "literal":
            return self.literal(node.children[0])
        if kind == "paren_expr":
            return self.operand(node.children[0])
        if kind == "list_lit":
            items = [self.operand(e) for e in (node.children[0].children if node.children else [])]
            for item in items:
                if not isinstance(item, Const) or item.type == "list":
                    raise invalid("list elements must be literals", item.pos)
            return Const(tuple(items), "list", pos)
        if kind == "ident_arg":
            return self.call(node)
        if kind in ("addition", "multiplication"):
            return self.arithmetic(node)
        if kind == "unary":
            if node.children[0].data == "unary_not":
                raise invalid("'!' applies only to conditions", pos)
            value = self.operand(node.children[1])
            if not (isinstance(value, Const) and value.type == "int"):
                raise invalid("'-' applies only to integer literals and now()", pos)
            return self.integer(-value.value, pos)
        if kind in ("conditionalor", "conditionaland", "relation"):
            raise invalid("a condition cannot be used as a value", pos)
        if kind == "expr":
            raise invalid("the conditional operator ?: is not supported", pos)
        if kind == "member_dot_arg":
            name = node.children[1]
            raise invalid(f"{name}() cannot be used as a value", name.start_pos + 1)
        raise invalid(f"{_NOT_SUPPORTED.get(kind, kind)} not supported", pos)

    def literal(self, token: Token) -> Const:
        pos = token.start_pos + 1
        kind = token.type
        if kind == "INT_LIT":
            try:
                return self.integer(int(token.value, 0), pos)
            except ValueError:
                raise invalid(f"bad integer {token.value}", pos) from None
        if kind in ("STRING_LIT", "MLSTRING_LIT"):
            try:
                return Const(str(celstr(token)), "string", pos)
            except ValueError:
                raise invalid("bad escape in string literal", pos) from None
        if kind == "BOOL_LIT":
            return Const(token.value == "true", "bool", pos)
        if kind == "NULL_LIT":
            return Const(None, "null", pos)
        what = {"UINT_LIT": "unsigned integers", "FLOAT_LIT": "floating-point numbers", "BYTES_LIT": "bytes literals"}
        raise invalid(f"{what.get(kind, kind)} not supported", pos)

    @staticmethod
    def integer(value: int, pos: int) -> Const:
        if not INT_MIN <= value <= INT_MAX:
            raise invalid("integer overflow", pos)
        return Const(value, "int", pos)

    def call(self, node: Tree) -> Const | Ref:
        name = node.children[0]
        args = node.children[1].children if len(node.children) > 1 else []
        pos = name.start_pos + 1
        if name == "now":
            if args:
                raise invalid("now() takes no arguments", pos)
            if self.now is None:
                raise NeedsNow
            return Const(self.now, "int", pos)
        if name == "size":
            if len(args) != 1:
                raise invalid("size() takes one argument", pos)
            target = self.operand(args[0])
            if not (isinstance(target, Ref) and target.field.kind == "tags"):
                raise invalid("size() applies only to tags", target.pos)
            return Ref("size(tags)", _SIZE, pos)
        raise invalid(f"unknown function {name}()", pos)

    def arithmetic(self, node: Tree) -> Const:
        op_node, right = node.children
        symbol, apply = _ARITHMETIC[op_node.data]
        lhs, rhs = self.operand(op_node.children[0]), self.operand(right)
        if apply is None:
            raise invalid(f"'{symbol}' is not supported; use +, - or *", lhs.pos)
        for side in (lhs, rhs):
            if not (isinstance(side, Const) and side.type == "int"):
                raise invalid(f"'{symbol}' applies only to integer literals and now()", side.pos)
        return self.integer(apply(lhs.value, rhs.value), lhs.pos)


# ---------------------------------------------------------------------------------------------------- entry points


@functools.lru_cache(maxsize=1024)
def _compile_timeless(expression: str, scope: str, dialect: str) -> ColumnElement[bool]:
    """Clauses that do not call now() are reused; the others must see the time of each call."""
    return Compiler(SCOPES[scope], DIALECTS[dialect], None).condition(parse(expression))


def compile_filter(
    expression: str, scope: str = "memo", dialect: str = "sqlite", now: int | None = None
) -> ColumnElement[bool]:
    """Compile ``expression`` for ``scope`` ("memo" or "attachment") and ``dialect``.

    Returns a boolean clause over ``memos_core.tables.memo`` (or ``attachment``) needing no joins.
    ``now`` pins ``now()`` (unix seconds); by default it is the time of this call.
    Raises ``ApiError(INVALID_ARGUMENT)`` for anything outside the supported language.
    """
    if scope not in SCOPES:
        raise ValueError(f"no filter scope {scope!r}")
    if dialect not in DIALECTS:
        raise ValueError(f"no filter rendering for dialect {dialect!r}")
    try:
        if not _calls_now(expression):
            return _compile_timeless(expression, scope, dialect)
        current = int(time.time()) if now is None else now
        return Compiler(SCOPES[scope], DIALECTS[dialect], current).condition(parse(expression))
    except RecursionError:
        raise invalid("expression nested too deeply", 1) from None


@functools.lru_cache(maxsize=1024)
def _calls_now(expression: str) -> bool:
    return any(
        isinstance(node, Tree) and node.data == "ident_arg" and node.children[0] == "now"
        for node in parse(expression).iter_subtrees()
    )
