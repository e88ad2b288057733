"""The plugin contract is documented: every hook of hookspecs.py in docs/plugins.md (the index, with its
signature) and in docs/hooks.md (its guide), and every public name of memos_core somewhere in docs/."""

import inspect
import re
from pathlib import Path

import memos_core
from memos_core import hookspecs, testing

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC = DOCS / "plugins.md"
GUIDE = DOCS / "hooks.md"


def hook_signatures() -> dict[str, str]:
    out = {}
    for name, fn in vars(hookspecs).items():
        if name.startswith("memos_") and callable(fn):
            params = ", ".join(inspect.signature(fn).parameters)
            out[name] = f"{name}({params})"
    return out


def all_docs() -> dict[str, str]:
    return {md.relative_to(DOCS).as_posix(): md.read_text() for md in sorted(DOCS.rglob("*.md"))}


def test_every_hook_is_documented_with_its_signature():
    sigs = hook_signatures()
    assert len(sigs) >= 10
    for doc in (DOC, GUIDE):
        text = doc.read_text()
        missing = [s for s in sigs.values() if f"`{s}`" not in text]
        assert not missing, f"docs/{doc.name} lacks: {missing}"


def test_every_hook_has_a_section_in_the_guide():
    headings = set(re.findall(r"^## (\S+)$", GUIDE.read_text(), re.M))
    missing = set(hook_signatures()) - headings
    assert not missing, f"docs/hooks.md has no '## <hook>' section for {sorted(missing)}"


def test_docs_name_no_hook_that_does_not_exist():
    fixtures = {name for name in vars(testing) if name.startswith("memos_")}  # memos_users(...), not hooks
    for name, text in all_docs().items():
        documented = set(re.findall(r"`(memos_[a-z_]+)\(", text)) - fixtures
        assert documented <= set(hook_signatures()), (name, documented - set(hook_signatures()))


def test_every_public_name_is_documented():
    """Each name of ``memos_core.__all__`` is named in code style in some page of docs/."""
    text = "\n".join(all_docs().values())
    spans = " ".join(re.findall(r"`([^`\n]+)`", text))
    missing = [
        name
        for name in memos_core.__all__
        if not re.search(rf"(?<![\w.])(memos_core\.)?{re.escape(name)}(?!\w)", spans)
    ]
    assert not missing, f"public names of memos_core no page of docs/ names: {missing}"


def test_every_hook_has_a_docstring_saying_its_kind():
    for name in hook_signatures():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert doc.strip(), name
        assert any(k in doc for k in ("First-result", "Fan-out", "first-result", "fan-out")), name
