"""The worked examples of ``docs/`` run as tests (collected by this directory's conftest.py).

Here: every hook's guide has an example that uses the hook, and an example that breaks fails the run.
"""

import inspect
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from fixtures.processes import memos_env

from memos_core import hookspecs

REPO = Path(__file__).resolve().parents[2]
HOOKS_GUIDE = REPO / "docs" / "hooks.md"
TESTED = re.compile(r"^```python test\n(.*?)^```$", re.S | re.M)


def hook_names() -> list[str]:
    return [n for n, f in vars(hookspecs).items() if n.startswith("memos_") and inspect.isfunction(f)]


def sections(text: str) -> dict[str, str]:
    """``## heading`` -> the text up to the next such heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_hook_has_a_guide_with_a_tested_example_using_it():
    guide = sections(HOOKS_GUIDE.read_text())
    for name in hook_names():
        assert name in guide, f"docs/hooks.md has no '## {name}' section"
        examples = TESTED.findall(guide[name])
        assert examples, f"the guide of {name} has no ```python test example"
        # implemented, or called (memos_http_fetcher's example is a plugin that asks for the fetcher)
        uses = rf"def {name}\(|\"{name}\""
        assert any(re.search(uses, code) for code in examples), f"no example of {name} implements or calls it"
        assert any(re.search(r"^(async )?def test_", code, re.M) for code in examples), name
        for word in ("Fires", "Arguments", "Kind"):
            assert f"**{word}" in guide[name], f"the guide of {name} does not say {word}"


def test_every_tested_example_has_a_test():
    for md in sorted((REPO / "docs").rglob("*.md")):
        for code in TESTED.findall(md.read_text()):
            assert re.search(r"^(async )?def test_", code, re.M), f"{md.name}: an example without a test:\n{code}"


def test_a_broken_example_fails_the_run_and_points_at_its_line(tmp_path):
    """A throw-away project with this collector and one guide: one example passes, one is broken."""
    (tmp_path / "tests" / "docs").mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "tests" / "docs" / "conftest.py")
    (tmp_path / "tests" / "docs" / "test_doc_examples.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\nasyncio_default_fixture_loop_scope = "function"\n'
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        textwrap.dedent(
            """\
            # A guide

            Prose blocks are not run:

            ```python
            this is not python
            ```

            ```python test
            async def test_the_server_answers(memos_client):
                r = await memos_client.get("/healthz")
                assert r.status == 200
            ```

            ```python test
            def test_rotted():
                assert 1 + 1 == 3
            ```
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/docs"],
        cwd=tmp_path,
        env=memos_env(tmp_path),  # SQLite only, whatever servers this run tests
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout, run.stdout
    assert "docs/guide.md:17: AssertionError" in run.stdout, run.stdout
    assert "FAILED docs/guide.md::line-16::test_rotted" in run.stdout, run.stdout


def anchors(text: str) -> set[str]:
    """GitHub's anchors of a Markdown page's headings: lowercase, punctuation dropped, spaces to hyphens."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        out.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def test_links_between_the_plugin_docs_resolve():
    pages = ["plugins.md", "hooks.md", *(p.name for p in (REPO / "docs").glob("howto-*.md"))]
    assert len(pages) >= 8
    for page in pages:
        text = (REPO / "docs" / page).read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = (REPO / "docs" / path).resolve() if path else REPO / "docs" / page
            assert linked.exists(), f"docs/{page} links to {target}, which does not exist"
            if anchor and linked.suffix == ".md":
                assert anchor in anchors(linked.read_text()), f"docs/{page} links to {target}: no such heading"
