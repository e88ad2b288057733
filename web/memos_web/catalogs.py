"""Keep the UI's message catalogs in step with the code (a developer's tool, not used at run time).

    python -m memos_web.catalogs update   # re-extract messages.pot, merge it into every language
    python -m memos_web.catalogs check    # exit 1 if messages.pot is stale or a translation missing

Messages come from the templates (Jinja's extractor: ``_()``, ``{% trans %}``), the Python modules
(``_``/``gettext``/``ngettext``/``N_``) and the page scripts (``t("...")``), as ``babel.cfg`` maps
them. Locations are kept without line numbers: they change less, and a message located in a
``.js`` file is what the scripts' catalog serves. A new or changed message arrives in each
language's ``.po`` untranslated (or marked fuzzy when close to an old one) for a translator to fill.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from . import i18n

PACKAGE = Path(__file__).parent
CONFIG = PACKAGE.parent / "babel.cfg"
TEMPLATE = i18n.LOCALE_DIR / f"{i18n.DOMAIN}.pot"
KEYWORDS = {**DEFAULT_KEYWORDS, "t": None}
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # fixed header dates: a re-run changes nothing
HEADER = (
    "# Messages of memos-web: its pages, page scripts and views.\n# Update with: python -m memos_web.catalogs update\n#"
)


def _catalog(**fields: object) -> Catalog:
    return Catalog(
        project="memos-web",
        domain=i18n.DOMAIN,
        header_comment=HEADER,
        creation_date=_EPOCH,
        revision_date=_EPOCH,
        charset="utf-8",
        fuzzy=False,
        **fields,  # type: ignore[arg-type]
    )


def extract() -> Catalog:
    """Every message of the package, as a fresh template catalog."""
    with CONFIG.open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = _catalog()
    for filename, _lineno, message, comments, context in extract_from_dir(
        PACKAGE, method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, 0)], auto_comments=comments, context=context)
    return catalog


def dump(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=0, include_lineno=False, sort_output=True)
    return buf.getvalue()


def languages() -> list[str]:
    """The languages with a catalog (English, the source language, has none)."""
    return [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]


def read(code: str) -> Catalog:
    path = i18n.catalog_path(code)
    if not path.exists():
        return _catalog(locale=i18n.babel_locale(code), language_team=f"{i18n.LANGUAGES[code]} ({code})")
    with path.open("rb") as f:
        return read_po(f, locale=i18n.babel_locale(code), domain=i18n.DOMAIN)


def update() -> None:
    """Write messages.pot afresh and merge it into every language's catalog."""
    template = extract()
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_bytes(dump(template))
    for code in languages():
        catalog = read(code)
        catalog.update(template, update_creation_date=False)
        catalog.revision_date = _EPOCH
        catalog.fuzzy = False
        catalog.header_comment = HEADER
        catalog.project = "memos-web"
        catalog.obsolete.clear()  # git keeps the history of removed messages
        path = i18n.catalog_path(code)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(dump(catalog))


def problems() -> list[str]:
    """What is wrong with the catalogs, one line each (nothing when they are complete)."""
    out = []
    template = extract()
    if not TEMPLATE.exists() or TEMPLATE.read_bytes() != dump(template):
        out.append(f"{TEMPLATE.name} is stale: run python -m memos_web.catalogs update")
    for code in languages():
        catalog = read(code)
        for message in template:
            if not message.id:
                continue
            found = catalog.get(message.id, context=message.context)
            strings = found.string if found is not None else None
            filled = all(strings) if isinstance(strings, tuple) else bool(strings)
            if found is None or not filled or found.fuzzy:
                out.append(f"{code}: no translation for {message.id!r}")
        for message, errors in catalog.check():
            out += [f"{code}: {message.id!r}: {error}" for error in errors]
    return out


def main(argv: list[str]) -> int:
    if argv[1:] == ["update"]:
        update()
        return 0
    if argv[1:] == ["check"]:
        found = problems()
        print("\n".join(found) or "catalogs complete")
        return 1 if found else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
