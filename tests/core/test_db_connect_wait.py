"""Start-up on a database server that is not reachable yet (containers started together): ``memos
serve`` retries for ``MEMOS_DB_CONNECT_TIMEOUT`` seconds, saying so, then serves or exits non-zero."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from fixtures import processes as procs


def unreachable_dsn(scheme: str, port: int) -> str:
    return f"{scheme}://memos:memos@127.0.0.1:{port}/memos"


def test_serve_retries_an_unreachable_postgres_server_then_exits_non_zero(tmp_path):
    port = procs.free_port()  # nothing listens there: connections are refused
    env = procs.memos_env(
        tmp_path,
        MEMOS_DRIVER="postgres",
        MEMOS_DSN=unreachable_dsn("postgresql", port),
        MEMOS_DATA=str(tmp_path),
        MEMOS_DB_CONNECT_TIMEOUT="3",
    )
    started = time.monotonic()
    result = procs.run_memos("serve", "--addr", "127.0.0.1", "--port", str(procs.free_port()), env=env, timeout=60)
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "waiting for the database" in output and "MEMOS_DB_CONNECT_TIMEOUT" in output, output
    assert "not reachable within 3 s" in output, output
    assert 3 <= took < 20, took

    # 0: one attempt, no waiting.
    started = time.monotonic()
    result = procs.run_memos(
        "serve", "--addr", "127.0.0.1", "--port", str(procs.free_port()),
        env={**env, "MEMOS_DB_CONNECT_TIMEOUT": "0"}, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "waiting for the database" not in result.stdout + result.stderr
    assert time.monotonic() - started < took


def test_a_bad_db_connect_timeout_is_refused(tmp_path):
    env = procs.memos_env(tmp_path, MEMOS_DATA=str(tmp_path), MEMOS_DB_CONNECT_TIMEOUT="soon")
    result = procs.run_memos("serve", "--port", str(procs.free_port()), env=env, timeout=60)
    assert result.returncode != 0
    assert "MEMOS_DB_CONNECT_TIMEOUT: expected a number of seconds, not 'soon'" in result.stderr


@contextlib.contextmanager
def late_proxy(port: int, target: tuple[str, int], delay: float) -> Iterator[None]:
    """After ``delay`` seconds, forward TCP connections on 127.0.0.1:``port`` to ``target``: a
    database server that comes up while memos is starting."""
    loop = asyncio.new_event_loop()
    servers: list[asyncio.Server] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def start() -> None:
        await asyncio.sleep(delay)
        servers.append(await asyncio.start_server(handle, "127.0.0.1", port))

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    try:
        yield
    finally:

        async def stop() -> None:
            for server in servers:
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


@pytest.mark.drivers("postgres", "mysql")
def test_serve_waits_for_a_server_that_comes_up_late_and_then_serves(memos_config, tmp_path):
    dsn = urlsplit(memos_config.dsn)
    port = procs.free_port()
    late = dsn._replace(netloc=f"{dsn.username}:{dsn.password}@127.0.0.1:{port}")
    env = procs.memos_env(
        tmp_path,
        MEMOS_DRIVER=memos_config.driver,
        MEMOS_DSN=urlunsplit(late),
        MEMOS_DATA=str(tmp_path),
        MEMOS_DB_CONNECT_TIMEOUT="30",
    )
    with late_proxy(port, (dsn.hostname, dsn.port), delay=2.0), procs.serve(tmp_path, env, timeout=40) as served:
        assert served.request("POST", "/api/v1/users", {"username": "admin", "password": "pw-admin"}).status == 200
        output = served.output()
        assert "waiting for the database" in output, output
        assert "connected to the database after" in output, output
