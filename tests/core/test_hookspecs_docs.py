"""The hook contract is documented: every hook in hookspecs.py is in docs/plugins.md with its signature."""

import inspect
from pathlib import Path

from memos_core import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def hook_signatures() -> dict[str, str]:
    out = {}
    for name, fn in vars(hookspecs).items():
        if name.startswith("memos_") and callable(fn):
            params = ", ".join(inspect.signature(fn).parameters)
            out[name] = f"{name}({params})"
    return out


def test_every_hook_is_documented_with_its_signature():
    text = DOC.read_text()
    sigs = hook_signatures()
    assert len(sigs) >= 10
    missing = [s for s in sigs.values() if f"`{s}`" not in text]
    assert not missing, f"docs/plugins.md lacks: {missing}"


def test_docs_name_no_hook_that_does_not_exist():
    text = DOC.read_text()
    import re

    documented = set(re.findall(r"`(memos_[a-z_]+)\(", text))
    assert documented <= set(hook_signatures()), documented - set(hook_signatures())


def test_every_hook_has_a_docstring_saying_its_kind():
    for name in hook_signatures():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert doc.strip(), name
        assert any(k in doc for k in ("First-result", "Fan-out", "first-result", "fan-out")), name
