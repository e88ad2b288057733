"""CHANGELOG.md's "Plugin API" section records every hook-spec version, and the current one names
every hook, public name and event of the contract (so adding one without recording it fails)."""

import inspect
import re
from pathlib import Path

import memos_core
from memos_core import HOOKSPEC_VERSION, events, hookspecs

CHANGELOG = Path(__file__).resolve().parents[2] / "CHANGELOG.md"


def plugin_api_section() -> str:
    text = CHANGELOG.read_text()
    match = re.search(r"^## Plugin API\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, "CHANGELOG.md has no '## Plugin API' section"
    return match.group(1)


def test_every_hookspec_version_has_an_entry_and_the_declaration_is_explained():
    section = plugin_api_section()
    versions = [int(v) for v in re.findall(r"^### Version (\d+)$", section, re.M)]
    assert sorted(versions) == list(range(1, HOOKSPEC_VERSION + 1))
    assert "MEMOS_HOOKSPEC = " in section


def test_the_contract_lists_every_hook_public_name_and_event():
    section = plugin_api_section()
    hooks = [n for n, f in vars(hookspecs).items() if n.startswith("memos_") and inspect.isfunction(f)]
    names = [n for n in memos_core.__all__ if n != "__version__"]
    missing = [n for n in [*hooks, *names, *events.CATALOGUE] if f"`{n}`" not in section]
    assert not missing, f"CHANGELOG.md's Plugin API section does not name: {missing}"
