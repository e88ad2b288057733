"""Run the worked examples of the docs as tests, so they cannot rot.

Every fenced block opened with ```` ```python test ```` in a Markdown file of ``docs/`` is a test
module of its own: its fixtures (``memos_extra_plugins``, say) and ``test_*`` functions are
collected as if it were a file, with :mod:`memos_core.testing`'s fixtures at hand, and a failure
points at the Markdown file and line. Other ``python`` blocks are prose and are not run.

The examples are collected alongside ``test_doc_examples.py`` (``pytest tests/docs`` runs them).
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

#: The opening fence of a tested example, and the fence that closes any block.
OPEN = re.compile(r"^```python[ \t]+test[ \t]*$")
CLOSE = re.compile(r"^```[ \t]*$")


def tested_blocks(text: str) -> list[tuple[int, str]]:
    """``(first code line, code)`` of each tested example of a Markdown text (lines count from 1)."""
    blocks, lines, start, code = [], text.splitlines(), None, []
    for number, line in enumerate(lines, 1):
        if start is None:
            if OPEN.match(line):
                start, code = number + 1, []
        elif CLOSE.match(line):
            blocks.append((start, "\n".join(code) + "\n"))
            start = None
        else:
            code.append(line)
    if start is not None:
        raise ValueError(f"a ```python test block opened on line {start - 1} is never closed")
    return blocks


class DocExample(pytest.Module):
    """One tested block, collected as a module whose code lines keep their Markdown line numbers."""

    def __init__(self, *, first_line: int, code: str, **kw) -> None:
        super().__init__(**kw)
        self.first_line = first_line
        self.code = code

    def _getobj(self) -> types.ModuleType:
        stem = re.sub(r"\W", "_", self.path.stem)
        name = f"doc_example_{stem}_{self.first_line}"
        module = types.ModuleType(name)
        module.__file__ = str(self.path)
        sys.modules[name] = module  # so an example may register itself: [sys.modules[__name__]]
        source = "\n" * (self.first_line - 1) + self.code
        exec(compile(source, str(self.path), "exec"), module.__dict__)
        return module


class DocFile(pytest.File):
    """A Markdown file of ``docs/``: its tested examples."""

    def collect(self):
        for first_line, code in tested_blocks(self.path.read_text()):
            name = f"line-{first_line}"
            yield DocExample.from_parent(
                self, path=self.path, name=name, nodeid=f"{self.nodeid}::{name}", first_line=first_line, code=code
            )


class DocsDirectory(pytest.Directory):
    """The project's ``docs/``: each Markdown file holding tested examples."""

    def collect(self):
        for md in sorted(self.path.rglob("*.md")):
            if "```python test" in md.read_text():
                yield DocFile.from_parent(self, path=md)


def pytest_collect_file(file_path: Path, parent):
    if file_path.name == "test_doc_examples.py":
        return DocsDirectory.from_parent(parent, path=parent.config.rootpath / "docs")
    return None
