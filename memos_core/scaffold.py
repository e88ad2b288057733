"""``memos new-plugin NAME``: write a ready plugin package from the template in ``plugin_template/``.

The package it writes installs as it is and passes its own test (the suite proves it), so a plugin
author starts from working code: the entry point, one hook, a test with :mod:`memos_core.testing`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import keyword
import re
import string
from pathlib import Path

from .hookspecs import HOOKSPEC_VERSION

TEMPLATE = Path(__file__).with_name("plugin_template")

#: A distribution name as the template accepts it: lowercase words joined by single hyphens.
NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


class ScaffoldError(ValueError):
    """The name or the target directory cannot be used; nothing was written."""


@dataclasses.dataclass(frozen=True)
class PluginNames:
    distribution: str  # memos-hello: the package's name on an index and in pip
    module: str  # memos_hello: the import name
    entry_point: str  # hello: the plugin's name in `memos plugins`; its routes are under /api/hello/


def plugin_names(name: str) -> PluginNames:
    """The names derived from ``name``, or :class:`ScaffoldError` saying why it cannot be used."""
    if not NAME_RE.fullmatch(name):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and single hyphens, "
            "starting with a letter (for example memos-hello)"
        )
    module = name.replace("-", "_")
    short = name.removeprefix("memos-") or name
    if re.fullmatch(r"v[0-9]+", short):
        raise ScaffoldError(f"invalid plugin name {name!r}: its routes would be /api/{short}/, the Memos API's")
    if keyword.iskeyword(module):
        raise ScaffoldError(f"invalid plugin name {name!r}: {module} is a Python keyword")
    if importlib.util.find_spec(module) is not None:
        raise ScaffoldError(f"invalid plugin name {name!r}: a module named {module} is already installed")
    return PluginNames(distribution=name, module=module, entry_point=short)


def _files(names: PluginNames) -> dict[str, str]:
    """Relative path -> text of every file of the new package."""
    values = {**dataclasses.asdict(names), "hookspec_version": str(HOOKSPEC_VERSION)}
    out = {}
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        rel = source.relative_to(TEMPLATE).as_posix().removesuffix(".tmpl")
        rel = rel.replace("package/", f"{names.module}/", 1)
        out[rel] = string.Template(source.read_text()).substitute(values)
    return out


def new_plugin(name: str, directory: Path | None = None) -> list[Path]:
    """Write the package for ``name`` into ``directory`` (default ``./NAME``) and return its files.

    The directory must not exist or be empty: the command never overwrites anyone's work.
    """
    names = plugin_names(name)
    target = Path(directory) if directory is not None else Path(name)
    if target.exists():
        if not target.is_dir():
            raise ScaffoldError(f"{target} exists and is not a directory")
        if any(target.iterdir()):
            raise ScaffoldError(f"{target} is not empty: choose a new directory with --dir")
    written = []
    for rel, text in _files(names).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
