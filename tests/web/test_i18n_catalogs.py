"""The UI's message catalogs: complete for every language, in step with the code, and every text a
page shows written for translation.

* The messages extracted now from the templates, the Python modules and the page scripts (Babel,
  as ``python -m memos_web.catalogs update`` does) are exactly the committed ``messages.pot``, and
  every language's catalog translates each of them (not fuzzy, placeholders intact).
* No template shows English that did not go through gettext: text between tags, visible
  attributes (``aria-label``, ``title``, ``placeholder``, ``alt``...) and string literals a template
  prints are checked, with a short allowlist.
* No page script sets visible text from a bare string literal (``toast("...")`` and the like).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from babel import Locale
from memos_web import catalogs, i18n

PACKAGE = Path(i18n.__file__).parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
HOLE = "\x00"  # where a template expression or a translated text stands
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
VISIBLE_ATTRS = {"aria-label", "title", "placeholder", "alt", "aria-description", "aria-roledescription", "label"}
#: Text a template may show as it is, in every language.
ALLOWED = {"RSS", "Memos", "GitHub", "STARTTLS", 'tag in ["work"]'}


def test_catalogs_are_complete_and_in_step_with_the_code():
    found = catalogs.problems()
    assert found == [], "\n".join(found[:40])


def test_a_missing_translation_is_reported(tmp_path, monkeypatch):
    """The check above can fail: a catalog without one translation, or a stale template, is named."""
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(catalogs, "TEMPLATE", tmp_path / "messages.pot")
    found = catalogs.problems()
    assert any("messages.pot is stale" in line for line in found)
    assert any(line.startswith("zh-Hans: no translation for 'Explore'") for line in found)


def test_every_language_has_a_catalog_and_a_babel_locale():
    assert i18n.DEFAULT == "en" and "en" in i18n.LANGUAGES
    for code in i18n.LANGUAGES:
        assert isinstance(i18n.babel_locale(code), Locale)
        if code != i18n.DEFAULT:
            assert i18n.catalog_path(code).exists(), code
            assert i18n.language(code).translations.gettext("Explore") != "Explore", code


# -- templates -------------------------------------------------------------------------------------
def _env() -> jinja2.Environment:
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    return env


class _Visible(HTMLParser):
    """Text nodes and visible attribute values of an HTML skeleton (template code replaced by HOLE)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        for name, value in attrs:
            visible = name in VISIBLE_ATTRS or (
                name == "value" and tag == "input" and values.get("type") in ("submit", "button")
            )
            if visible and value:
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.found.append(data)


def _untranslated(text: str) -> bool:
    words = text.replace(HOLE, " ").strip()
    words = re.sub(r"\S*/\S*", "", words).strip()  # a path or URL shown as it is
    words = re.sub(r'[\w-]+="[^"]*"', "", words).strip()  # attributes a macro writes into a tag
    return bool(re.search(r"[A-Za-z]{2,}", words)) and words not in ALLOWED


def template_problems(source: str, name: str = "t.html") -> list[str]:
    """English a template shows without gettext, as ``line: text``."""
    env = _env()
    stream = list(env.lexer.tokenize(source, name))
    skeleton: list[str] = []
    problems: list[str] = []
    in_trans = in_class = False  # inside {% trans %}, inside {% block x_class %} (a class name)
    calls: list[str | None] = []
    for i, tok in enumerate(stream):
        if tok.type == "data":
            skeleton.append(HOLE if in_trans or in_class else tok.value)
            continue
        if tok.type in ("variable_begin", "block_begin"):
            skeleton.append(HOLE)
            nxt = stream[i + 1] if i + 1 < len(stream) else None
            if tok.type == "block_begin" and nxt is not None and nxt.type == "name":
                in_trans = {"trans": True, "endtrans": False}.get(nxt.value, in_trans)
                if nxt.value == "block":
                    in_class = stream[i + 2].value.endswith("_class")
                elif nxt.value == "endblock":
                    in_class = False
            calls = []
        elif tok.type == "lparen":
            prev = stream[i - 1]
            calls.append(prev.value if prev.type == "name" else None)
        elif tok.type == "rparen" and calls:
            calls.pop()
        elif tok.type == "string" and not in_trans:
            value = tok.value
            prev, nxt = stream[i - 1], stream[i + 1]
            compared = {prev.type, nxt.type} & {"eq", "ne"} or "in" in (prev.value, nxt.value)
            translated = bool(calls) and calls[-1] in GETTEXT
            markup = value.lstrip().startswith("<")
            if (
                not translated
                and not compared
                and not markup
                and re.search(r"[a-z]", value)
                and re.search(r"^[A-Z][a-z]|\s", value)  # words, not a key like "pageToken"
                and value not in ALLOWED
            ):
                problems.append(f"{tok.lineno}: string {value!r}")
    parser = _Visible()
    parser.feed("".join(skeleton))
    parser.close()
    problems += [f"text {text.strip()!r}" for text in parser.found if _untranslated(text)]
    return problems


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_show_no_untranslated_text(path):
    assert template_problems(path.read_text(encoding="utf-8"), path.name) == []


@pytest.mark.parametrize(
    "source, bad",
    [
        ("<p>Hello there</p>", "text 'Hello there'"),
        ('<button aria-label="Close menu">×</button>', "text 'Close menu'"),
        ('<input placeholder="Search memos" value="{{ q }}">', "text 'Search memos'"),
        ("<b>{{ 'Unpin' if pinned else 'Pin' }}</b>", "1: string 'Unpin'"),
        ("{% for v, label in [('PUBLIC', 'Public')] %}{{ label }}{% endfor %}", "1: string 'Public'"),
    ],
)
def test_the_template_check_finds_bare_english(source, bad):
    assert bad in template_problems(source)


def test_the_template_check_accepts_translated_text():
    source = (
        '<p title="{{ _(\'Pinned\') }}">{{ _("Hello %(name)s", name=user) }} {{ ngettext("%(num)d memo", '
        '"%(num)d memos", n) }}</p>{% if tab == "All done" %}<a href="/x">RSS</a>{% endif %}'
        "{% trans %}Some text{% endtrans %} {{ user.name }} ×"
    )
    assert template_problems(source) == []


# -- page scripts ----------------------------------------------------------------------------------
_JS_VISIBLE = re.compile(
    r"""(?:toast|showError|fail|prompt)\(\s*["'`][^"'`]*[A-Za-z]{2}"""
    r"""|\.textContent\s*=\s*["'`][^"'`]*[A-Za-z]{2}"""
    r"""|setAttribute\(\s*["'](?:aria-label|title|placeholder|alt)["']\s*,\s*["'`][^"'`]*[A-Za-z]{2}"""
    r"""|["'](?:aria-label|title|placeholder)["']\s*:\s*["'`][^"'`]*[A-Za-z]{2}"""
)


@pytest.mark.parametrize("path", sorted(STATIC.glob("*.js")), ids=lambda p: p.name)
def test_page_scripts_show_no_untranslated_literals(path):
    found = [
        f"{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _JS_VISIBLE.search(line)
    ]
    assert found == []
