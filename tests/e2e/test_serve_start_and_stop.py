"""``memos serve`` in one process: a start-up that fails or is interrupted ends the process.

A cleanup context that raises, or a SIGTERM that arrives while the contexts are still starting,
must undo what already started (database connections included) and let the process exit: a
process that hangs after its error is a container that never restarts and a terminal that never
returns. Both run on SQLite, whose connection threads are what kept the process alive.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from fixtures import processes as procs

FAILING = textwrap.dedent(
    """
    from memos_core import CONTEXT, hookimpl

    @hookimpl
    def memos_cleanup_ctx(app):
        async def broken(app):
            async with app[CONTEXT].store.connection():  # holds a connection while it fails
                raise RuntimeError("the test plugin cannot start")
            yield
        return broken
    """
)

# Takes SQLite's write lock on another connection, signals the server, then asks the store for a
# transaction: the SIGTERM lands while that BEGIN waits for the lock, half-way through start-up.
INTERRUPTED = textwrap.dedent(
    """
    import asyncio, os, signal, sqlite3, threading
    import sqlalchemy as sa
    from memos_core import CONTEXT, hookimpl

    @hookimpl
    def memos_cleanup_ctx(app):
        async def held(app):
            ctx = app[CONTEXT]
            blocker = sqlite3.connect(
                os.path.join(ctx.config.data, "memos_prod.db"),
                isolation_level=None,
                check_same_thread=False,
                timeout=30,
            )
            # Off the event loop: a background writer started before this plugin must be able to finish.
            await asyncio.to_thread(blocker.execute, "BEGIN IMMEDIATE")
            threading.Timer(1.0, blocker.rollback).start()
            with open(os.environ["MEMOS_TEST_MARK"], "w") as f:
                f.write("signalled during start-up")
            os.kill(os.getpid(), signal.SIGTERM)
            async with ctx.store.transaction():
                await ctx.store.fetch_val(sa.text("SELECT 1"))  # its BEGIN waits for the lock
            yield
        return held
    """
)


def _env(tmp: Path, plugin: str) -> dict[str, str]:
    site = procs.make_distribution(
        tmp / "site", "memos-test-start", "1.0", {"memos_test_start.py": plugin},
        {"memos.plugins": {"test-start": "memos_test_start"}},
    )  # fmt: skip
    return procs.memos_env(tmp, site, MEMOS_DATA=str(tmp), MEMOS_TEST_MARK=str(tmp / "mark"))


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess:
    port = str(procs.free_port())
    return procs.run_memos("serve", "--addr", "127.0.0.1", "--port", port, env=env, timeout=60)


def test_a_plugin_that_cannot_start_ends_the_server_with_its_error(tmp_path):
    run = _serve(_env(tmp_path, FAILING))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the test plugin cannot start" in run.stderr


def test_a_sigterm_during_start_up_ends_the_server_cleanly(tmp_path):
    run = _serve(_env(tmp_path, INTERRUPTED))
    assert (tmp_path / "mark").exists(), run.stdout + run.stderr
    assert (tmp_path / "mark").read_text() == "signalled during start-up"
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    # The database it left behind opens and serves.
    with procs.serve(tmp_path, procs.memos_env(tmp_path, MEMOS_DATA=str(tmp_path))) as served:
        assert served.request("GET", "/api/v1/instance/profile").status == 200
