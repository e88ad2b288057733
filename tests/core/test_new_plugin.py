"""``memos new-plugin``: the package it writes installs as it is and passes its own tests."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.processes import memos_env, run_memos

from memos_core import HOOKSPEC_VERSION
from memos_core.cli import main

REPO = Path(__file__).resolve().parents[2]


def uv() -> str:
    """The uv of the development setup (scripts/bootstrap.sh installs it), else one on PATH."""
    local = REPO / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    assert found, "uv is needed to install the generated package into a throw-away target (scripts/bootstrap.sh)"
    return found


def test_the_generated_plugin_installs_and_passes_its_own_tests(tmp_path):
    env = memos_env(tmp_path)
    made = run_memos("new-plugin", "memos-greeter", "--dir", str(tmp_path / "greeter"), env=env)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "greeter"
    listed = {Path(line).relative_to(package).as_posix() for line in made.stdout.splitlines()[:-1]}
    assert listed == {"pyproject.toml", "README.md", "memos_greeter/__init__.py", "tests/test_plugin.py"}
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points."memos.plugins"]\ngreeter = "memos_greeter"' in pyproject
    assert f"MEMOS_HOOKSPEC = {HOOKSPEC_VERSION}\n" in (package / "memos_greeter" / "__init__.py").read_text()

    # Installed into a target of its own (never into this environment), found through its entry point.
    site = tmp_path / "site"
    built = subprocess.run(
        [uv(), "pip", "install", "--no-deps", "--python", sys.executable, "--target", str(site), str(package)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert (site / "memos_greeter" / "__init__.py").exists()

    listed = run_memos("plugins", "--json", "--data", str(tmp_path / "data"), env=memos_env(tmp_path, site))
    assert listed.returncode == 0, listed.stderr
    assert '"distribution": "memos-greeter"' in listed.stdout

    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=memos_env(tmp_path, site),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout, tested.stdout


def test_without_its_entry_point_the_generated_tests_fail(tmp_path):
    """The generated tests prove the plugin is loaded: not installed, its route is missing."""
    assert main(["new-plugin", "memos-absent", "--dir", str(tmp_path / "absent")]) == 0
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path / "absent",
        env=memos_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tested.returncode == 1, tested.stdout + tested.stderr
    assert "2 failed" in tested.stdout, tested.stdout


def test_defaults_to_a_directory_named_after_the_plugin(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "hello"]) == 0
    assert (tmp_path / "hello" / "hello" / "__init__.py").exists()
    assert 'hello = "hello"' in (tmp_path / "hello" / "pyproject.toml").read_text()
    assert '"/api/hello/me"' in (tmp_path / "hello" / "hello" / "__init__.py").read_text()


def test_refuses_a_directory_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["new-plugin", "memos-hello", "--dir", str(tmp_path / "mine")]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]
    assert main(["new-plugin", "memos-hello", "--dir", str(tmp_path / "mine" / "notes.txt")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_an_empty_directory_is_used(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["new-plugin", "memos-hello", "--dir", str(tmp_path / "empty")]) == 0
    assert (tmp_path / "empty" / "memos_hello" / "__init__.py").exists()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Memos-Hello", "lowercase letters"),
        ("memos_hello", "lowercase letters"),
        ("memos--hello", "single hyphens"),
        ("1memos", "starting with a letter"),
        ("hello-", "single hyphens"),
        ("memos hello", "single hyphens"),
        ("import", "Python keyword"),
        ("memos-v1", "the Memos API's"),
        ("memos-core", "module named memos_core is already installed"),
        ("aiohttp", "module named aiohttp is already installed"),
    ],
)
def test_refuses_a_bad_name(tmp_path, capsys, name, why):
    assert main(["new-plugin", name, "--dir", str(tmp_path / "out")]) == 2
    assert why in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
