"""Search shorthands, a memos-py extension: ``tag:NAME`` and ``content:WORD`` terms.

Clients that use Memos as an assistant's memory send filters such as ``tag:conversation`` or
``content:weather``. Neither is CEL (a ``:`` cannot stand at the top level of a CEL expression),
so the two languages never overlap: an expression made only of such terms, separated by spaces,
is rewritten into CEL before it is compiled, every term required (AND):

* ``tag:NAME`` means ``tag in ["NAME"]`` (a leading ``#`` is dropped: ``tag:#work``);
* ``content:WORD`` means ``content.contains("WORD")``.

A value with spaces or quotes is quoted, ``content:"sunny day"`` or ``tag:'to do'``, with ``\\``
escaping the quote character or a backslash. Anything else is left to the CEL compiler, which
answers 400 for what is not CEL; an expression that starts like a shorthand but is not one gets a
400 saying how the shorthand is written. CEL stays the canonical language.
"""

from __future__ import annotations

import json
import re

from memos_core import ApiError, Code

#: The shorthand keys and the CEL each becomes (``{}`` takes the value as a CEL string literal).
KEYS = {"tag": "tag in [{}]", "content": "content.contains({})"}

_KEY = re.compile(r"\s*([A-Za-z_]+):")
HELP = (
    'shorthand terms are tag:NAME or content:WORD (quote values with spaces: content:"two words"), separated by spaces'
)


def looks_like_shorthand(expression: str) -> bool:
    """Whether ``expression`` starts with a ``name:`` term (CEL never does)."""
    return _KEY.match(expression) is not None


def expand(expression: str) -> str | None:
    """The CEL for a shorthand ``expression``, or ``None`` when it is not one (then it is CEL, or
    a mistake the CEL compiler reports). Raises ``ApiError`` for a malformed shorthand."""
    if not looks_like_shorthand(expression):
        return None
    terms: list[str] = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        match = _KEY.match(text, pos)
        if match is None:
            raise _bad(f"expected another term at position {pos + 1}")
        key = match.group(1)
        if key not in KEYS:
            raise _bad(f"unknown shorthand {key + ':'!r} at position {match.start(1) + 1}")
        value, pos = _value(text, match.end())
        if key == "tag":
            value = value.removeprefix("#")
        if not value:
            raise _bad(f"{key}: needs a value at position {match.end() + 1}")
        terms.append(KEYS[key].format(json.dumps(value, ensure_ascii=False)))
        if pos < len(text) and not text[pos].isspace():
            raise _bad(f"expected a space after the {key}: term at position {pos + 1}")
    if not terms:
        raise _bad("empty expression")
    return " && ".join(terms)


def _value(text: str, pos: int) -> tuple[str, int]:
    """The value starting at ``pos`` (bare up to the next space, or quoted) and where it ends."""
    if pos < len(text) and text[pos] in "\"'":
        quote, out, i = text[pos], [], pos + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                return "".join(out), i + 1
            out.append(ch)
            i += 1
        raise _bad(f"the quote at position {pos + 1} is never closed")
    end = pos
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[pos:end], end


def _bad(what: str) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, f"invalid filter: {what}; {HELP}")
