"""Unsupported filters are 400 INVALID_ARGUMENT naming the problem and its position; the hook contract."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from memos_filter import compile_filter, memos_compile_filter, validate
from sqlalchemy.dialects import sqlite

from memos_core import ApiError, Code, Config, tables
from memos_core.plugins import load_plugins

# expression, words the message must contain, 1-based position
INVALID: list[tuple[str, str, int]] = [
    # the 400 examples of upstream's filter documentation
    ('tag == "x"', 'tag supports only tag in ["x", ...]', 1),
    ("size(content) > 3", "size() applies only to tags", 6),
    ('tags.all(t, t == "x")', "tags.all() is not supported", 6),
    ("foo == 1", "unknown identifier 'foo'", 1),
    ('creator_id == "1"', "creator_id is an integer, not a string", 15),
    # no display_time, no regex, no content.startsWith
    ("display_time > 0", "unknown identifier 'display_time'", 1),
    ('content.matches("a.*")', "regular expressions are not supported", 9),
    ('content.startsWith("a")', "content.startsWith() is not supported", 9),
    # parse errors, with what was expected
    ('visibility in ["A", ', "unexpected end of input, expected '!', '(', '-', '[', a name, a string", 21),
    ("(pinned", "unexpected end of input, expected ')'", 8),
    ("pinned)", "unexpected ')'", 7),
    ("x @ y", "unexpected character '@'", 3),
    ("", "empty expression", 1),
    # types
    ("pinned == 1", "pinned is a bool, not an integer", 11),
    ("content == true", "content is a string, not a bool", 12),
    ("pinned == false && content == true", "content is a string, not a bool", 31),
    ("created_ts > 1.5", "floating-point numbers not supported", 14),
    ("created_ts > 5u", "unsigned integers not supported", 14),
    ('visibility == b"x"', "bytes literals not supported", 15),
    ('visibility in ["PUBLIC", 1]', "visibility is a string, not an integer", 26),
    ('size(tags) == "2"', "size(tags) is an integer, not a string", 15),
    ("creator_id == null", "creator_id cannot be null", 15),
    # operands must be literals, fields on the left
    ("visibility == visibility", "right-hand side of '==' must be a literal", 15),
    ('"PUBLIC" == visibility', "left-hand side of '==' must be a field", 1),
    ("content.contains(visibility)", "argument of contains() must be a string literal", 18),
    ('visibility in "PUBLIC"', "right-hand side of 'in' must be a list literal", 15),
    ("visibility in [visibility]", "list elements must be literals", 16),
    ('"x" in content', "left-hand side of 'in' must be a field", 1),
    # operators and functions outside the language
    ("created_ts > now() / 2", "'/' is not supported", 14),
    ("created_ts > now() % 2", "'%' is not supported", 14),
    ('created_ts > "1" + 1', "'+' applies only to integer literals and now()", 14),
    ("created_ts > 9223372036854775807 + 1", "integer overflow", 14),
    ("has_link > true", "'>' is not supported on has_link", 1),
    ('tags == ["a"]', "tags supports", 1),
    ("unknown_fn()", "unknown function unknown_fn()", 1),
    ("created_ts > now(1)", "now() takes no arguments", 14),
    ('content.contains("a", "b")', "contains() takes one argument", 9),
    ("pinned ? true : false", "conditional operator", 1),
    ("a.b == 1", "field selection not supported", 1),
    ('content[0] == "a"', "indexing not supported", 1),
    ('{"a": 1}', "map literals not supported", 1),
    ("pinned == true == true", "a condition cannot be used as a value", 1),
    ('content.contains("a") == true', "contains() cannot be used as a value", 9),
    # tags.exists bodies
    ("tags.exists(t, t.size() > 1)", "tags.exists() takes (t, t ==", 16),
    ('tags.exists(t, t == "a" || t == "b")', "tags.exists() takes", 16),
    ('tags.exists(t, u == "a")', "tags.exists() takes", 16),
    ("tags.exists(t)", "tags.exists() takes", 6),
    ('tags.exists_one(t, t == "a")', "tags.exists_one() is not supported", 6),
    # values that are not conditions
    ("content", "content is not a condition", 1),
    ("!content", "content is not a condition", 2),
    ("size(tags)", "size(tags) is not a condition", 1),
    ("now()", "an integer is not a condition", 1),
    # positions on later lines count from the start of the expression
    ("pinned &&\n  foo", "unknown identifier 'foo'", 13),
]


@pytest.mark.parametrize(("expression", "words", "position"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_filter(expression, words, position):
    with pytest.raises(ApiError) as info:
        compile_filter(expression, "memo", "sqlite", now=0)
    error = info.value
    assert error.code == Code.INVALID_ARGUMENT
    assert error.code.http_status == 400
    assert error.message.startswith("invalid filter: ")
    assert words in error.message
    assert error.message.endswith(f" at position {position}")


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_invalid_in_every_dialect(dialect):
    with pytest.raises(ApiError) as info:
        compile_filter('creator_id == "1"', "memo", dialect)
    assert info.value.code == Code.INVALID_ARGUMENT


def test_attachment_scope_has_its_own_identifiers():
    for expression, words in [
        ('content.contains("x")', "unknown identifier 'content'"),
        ("pinned", "unknown identifier 'pinned'"),
        ('filename.startsWith("x")', "filename.startsWith() is not supported"),
        ('mime_type == "a" && memo_id == "3"', "memo_id is an integer, not a string"),
    ]:
        with pytest.raises(ApiError) as info:
            compile_filter(expression, "attachment", "sqlite")
        assert words in info.value.message
    with pytest.raises(ApiError, match="unknown identifier 'memo_id'"):
        compile_filter("memo_id == null", "memo", "sqlite")


def test_validate():
    assert validate('tag in ["work"] && created_ts > now() - 60') is None
    assert validate("memo_id == null", "attachment") is None
    with pytest.raises(ApiError, match="unknown identifier 'memo_id' at position 1"):
        validate("memo_id == null")
    with pytest.raises(ApiError, match="empty expression"):
        validate("  ")


def test_hook_declines_other_scopes_and_rejects_unknown_dialects():
    assert memos_compile_filter(expression="pinned", scope="user", context={"dialect": "sqlite"}) is None
    with pytest.raises(ValueError, match="oracle"):
        memos_compile_filter(expression="pinned", scope="memo", context={"dialect": "oracle"})


def test_hook_through_the_entry_point(tmp_path):
    plugins = load_plugins(Config(data=str(tmp_path)))
    assert "filter" in {info.name for info in plugins.infos}
    hook = plugins.pm.hook.memos_compile_filter
    clause = hook(expression='visibility == "PUBLIC" && pinned', scope="memo", context={"dialect": "sqlite"})
    query = sa.select(tables.memo.c.id).where(clause)
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    assert sql.endswith("WHERE memo.visibility = 'PUBLIC' AND memo.pinned IS 1")
    pinned_now = hook(expression="created_ts > now() - 10", scope="memo", context={"dialect": "mysql", "now": 100})
    assert str(pinned_now.compile(compile_kwargs={"literal_binds": True})) == "UNIX_TIMESTAMP(memo.created_ts) > 90"
    assert hook(expression="pinned", scope="user", context={"dialect": "sqlite"}) is None
    with pytest.raises(ApiError) as info:
        hook(expression="tag == 'x'", scope="memo", context={"dialect": "sqlite"})
    assert info.value.code == Code.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "expression",
    ["(" * 3000 + "pinned" + ")" * 3000, " && ".join(["pinned"] * 5000), "!" * 5000 + "pinned"],
    ids=["parentheses", "conjunction", "negation"],
)
def test_absurd_nesting_is_400_not_500(expression):
    with pytest.raises(ApiError) as info:
        compile_filter(expression, "memo", "sqlite")
    assert info.value.code == Code.INVALID_ARGUMENT
    assert info.value.message == "invalid filter: expression nested too deeply at position 1"
