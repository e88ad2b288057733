"""``memos serve --workers N``: several processes on one listening socket behave as one server.

Runs on every driver under test. Each test starts the real command; worker PIDs come from the parent's
log ("worker N (pid P) is serving") and, with ``MEMOS_DEBUG_WORKER_PID=1``, from a response header,
so a test knows which process answered. A fresh connection per request (urllib) lets the kernel hand
each request to either worker.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from fixtures import processes as procs

PID_HEADER = "X-Memos-Worker-Pid"

TEST_PLUGIN = """
import asyncio, os, time
from aiohttp import web
from memos_core import hookimpl

async def tick(app):
    with open(os.environ["MEMOS_TEST_TICK_FILE"], "a") as f:
        f.write(f"{os.getpid()} {time.time()}\\n")

async def slow(request):
    with open(os.environ["MEMOS_TEST_SLOW_FILE"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    await asyncio.sleep(float(request.query["seconds"]))
    return web.Response(text="slow done")

async def block(request):
    time.sleep(float(request.query["seconds"]))  # holds the worker's event loop: it accepts nothing meanwhile
    return web.Response(text="unblocked")

@hookimpl
def memos_register_runners(register):
    register("test.tick", "* * * * * *", tick)

@hookimpl
def memos_register_routes(app):
    app.router.add_get("/test/slow", slow)
    app.router.add_get("/test/block", block)
"""

FAILING_PLUGIN = """
from memos_core import hookimpl

@hookimpl
def memos_cleanup_ctx(app):
    async def broken(app):
        raise RuntimeError("the test plugin cannot start")
        yield
    return broken
"""


def _env(tmp: Path, config, plugin: str = TEST_PLUGIN, **extra: str) -> dict[str, str]:
    site = procs.make_distribution(
        tmp / "site", "memos-test-workers", "1.0", {"memos_test_workers.py": plugin},
        {"memos.plugins": {"test-workers": "memos_test_workers"}},
    )  # fmt: skip
    env = {
        "MEMOS_DRIVER": config.driver,
        "MEMOS_TEST_TICK_FILE": str(tmp / "ticks.log"),
        "MEMOS_TEST_SLOW_FILE": str(tmp / "slow.log"),
        **extra,
    }
    if config.dsn:
        env["MEMOS_DSN"] = config.dsn
    else:
        env["MEMOS_DATA"] = config.data
    return procs.memos_env(tmp, site, **env)


def _serving(output: str) -> dict[int, int]:
    """Slot -> PID of every worker the parent has reported serving (a restarted slot: its last PID)."""
    return {int(slot): int(pid) for slot, pid in re.findall(r"worker (\d+) \(pid (\d+)\) is serving", output)}


def _wait_serving(served: procs.Served, count: int, exclude: set[int] = frozenset(), timeout: float = 60) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = {pid for pid in _serving(served.output()).values() if pid not in exclude}
        if len(pids) >= count:
            return pids
        assert served.proc.poll() is None, served.output()
        assert time.monotonic() < deadline, f"{count} workers not serving in {timeout}s:\n{served.output()}"
        time.sleep(0.1)


def _answered_by(served: procs.Served, method: str, path: str, body=None, headers=None) -> tuple[procs.Response, int]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(served.base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return procs.Response(r.status, r.read()), int(r.headers[PID_HEADER])


def _until_answered_by_other(served, pid: int, method: str, path: str, headers=None) -> procs.Response:
    """Repeat a read on new connections until a worker other than ``pid`` answers it."""
    for _ in range(200):
        response, by = _answered_by(served, method, path, headers=headers)
        if by != pid:
            return response
    raise AssertionError(f"every answer came from worker {pid}")


def test_two_workers_serve_one_socket_and_one_database(tmp_path, memos_config):
    env = _env(tmp_path, memos_config, MEMOS_DEBUG_WORKER_PID="1")
    with procs.serve(tmp_path, env, "--workers", "2") as served:
        started = time.monotonic()
        workers = _wait_serving(served, 2)
        assert served.proc.pid not in workers

        # The schema was created once, by the parent, before the workers started (PostgreSQL test
        # databases come with it); each plugin's tables once, by one of the workers.
        output = served.output()
        created = output.count("created a new Memos")
        assert created == (0 if memos_config.driver == "postgres" else 1), output
        assert not created or output.index("created a new Memos") < output.index("worker 1 started (pid")
        plugin_tables = re.findall(r"plugin (\S+): created its tables", output)
        assert len(plugin_tables) == len(set(plugin_tables)), output
        assert "Traceback" not in output and " ERROR " not in output, output

        # Requests on new connections are answered by both workers, and only by them.
        seen: set[int] = set()
        for _ in range(200):
            response, pid = _answered_by(served, "GET", "/healthz")
            assert response.status == 200
            seen.add(pid)
            if len(seen) == 2:
                break
        assert seen == workers

        # Long-lived connections opened in one burst (a proxy's pool, a load generator) are spread
        # over both workers: here they queue while both workers are busy, and the first worker to
        # look again must not take them all.
        port = int(served.base.rsplit(":", 1)[1])
        blockers = [
            threading.Thread(target=_answered_by, args=(served, "GET", "/test/block?seconds=1.5")) for _ in range(2)
        ]
        for thread in blockers:
            thread.start()
        time.sleep(0.5)
        pool = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
        for conn in pool:
            conn.connect()
        holders = set()
        for conn in pool:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            holders.add(int(response.headers[PID_HEADER]))
        for conn in pool:
            conn.close()
        for thread in blockers:
            thread.join()
        assert holders == workers

        # A user and a memo written through one worker are read through the other.
        assert served.request("POST", "/api/v1/users", {"username": "admin", "password": "pw-admin"}).status == 200
        signin = {"passwordCredentials": {"username": "admin", "password": "pw-admin"}}
        r = served.request("POST", "/api/v1/auth/signin", signin)
        admin = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        r, writer = _answered_by(
            served, "POST", "/api/v1/memos", {"content": "via one #w", "visibility": "PUBLIC"}, admin
        )
        name = r.json()["name"]
        read = _until_answered_by_other(served, writer, "GET", f"/api/v1/{name}", admin)
        assert read.status == 200 and read.json()["content"] == "via one #w"

        # A live stream held by one worker receives a memo created through the other.
        stream_req = urllib.request.Request(served.base + "/api/v1/sse", headers=admin)
        with urllib.request.urlopen(stream_req, timeout=10) as stream:
            holder = int(stream.headers[PID_HEADER])
            for _ in range(200):
                r, by = _answered_by(
                    served, "POST", "/api/v1/memos", {"content": "live", "visibility": "PUBLIC"}, admin
                )
                if by != holder:
                    break
            assert by != holder
            live_name = r.json()["name"]
            while True:  # read frames until the other worker's memo arrives (the socket times out after 10 s)
                line = stream.readline().decode()
                assert line, "the stream ended"
                if line.startswith("data: ") and json.loads(line[6:]).get("name") == live_name:
                    break

        # The every-second job ran in the workers, once per second across both.
        time.sleep(max(0.0, 5 - (time.monotonic() - started)))
    lines = (tmp_path / "ticks.log").read_text().splitlines()
    assert len(lines) >= 3, lines
    seconds = [int(float(line.split()[1])) for line in lines]
    assert len(seconds) == len(set(seconds)), lines
    assert {int(line.split()[0]) for line in lines} <= workers
    assert served.proc.returncode == 0


def test_sigterm_drains_the_request_in_flight_and_exits_zero(tmp_path, memos_config):
    env = _env(tmp_path, memos_config, MEMOS_DEBUG_WORKER_PID="1")
    with procs.serve(tmp_path, env, "--workers", "2") as served:
        workers = _wait_serving(served, 2)
        result: dict = {}

        def slow_request() -> None:
            try:
                result["response"] = _answered_by(served, "GET", "/test/slow?seconds=3")
            except Exception as e:  # reported by the assertion below
                result["error"] = e

        thread = threading.Thread(target=slow_request)
        thread.start()
        deadline = time.monotonic() + 10
        while not (tmp_path / "slow.log").exists() or not (tmp_path / "slow.log").read_text():
            assert time.monotonic() < deadline, "the slow request never reached a worker"
            time.sleep(0.02)
        signalled = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        code = served.proc.wait(timeout=10)
        took = time.monotonic() - signalled
        thread.join(timeout=10)
    assert code == 0, served.output()
    assert took < 10
    response, pid = result.get("response") or (None, None)
    assert response is not None, result.get("error")
    assert response.status == 200 and response.body == b"slow done"
    assert pid in workers
    output = served.output()
    assert "all workers stopped" in output
    assert all(f"(pid {p}) exited with code 0" in output for p in workers), output
    with pytest.raises(OSError):
        served.request("GET", "/healthz")  # nothing listens any more


def test_a_killed_worker_is_replaced(tmp_path, memos_config):
    env = _env(tmp_path, memos_config, MEMOS_DEBUG_WORKER_PID="1")
    with procs.serve(tmp_path, env, "--workers", "2") as served:
        workers = _wait_serving(served, 2)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        (replacement,) = _wait_serving(served, 1, exclude=workers)
        output = served.output()
        assert f"(pid {victim}) exited with signal {signal.SIGKILL.value}; restarting it in" in output, output
        now = set(_serving(output).values())
        assert now == workers - {victim} | {replacement}
        seen: set[int] = set()
        for _ in range(200):
            response, pid = _answered_by(served, "GET", "/healthz")
            assert response.status == 200
            seen.add(pid)
            if len(seen) == 2:
                break
        assert seen == now
        assert served.proc.poll() is None

        # A second server on the same port is refused, though the workers' sockets allow sharing.
        port = served.base.rsplit(":", 1)[1]
        run = procs.run_memos("serve", "--addr", "127.0.0.1", "--port", port, "--workers", "2", env=env)
        assert run.returncode == 1 and "address already in use" in run.stderr, run.stderr

        # Workers whose parent is killed outright stop by themselves instead of serving unsupervised.
        served.proc.kill()
        served.proc.wait()
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in now):
            assert time.monotonic() < deadline, f"workers {now} outlived their parent"
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # an exited worker nobody has reaped yet is gone too


def test_workers_that_cannot_start_stop_the_server_with_the_error(tmp_path, memos_config):
    env = _env(tmp_path, memos_config, plugin=FAILING_PLUGIN)
    port = procs.free_port()
    run = procs.run_memos("serve", "--addr", "127.0.0.1", "--port", str(port), "--workers", "2", env=env, timeout=90)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the test plugin cannot start" in run.stderr
    assert "failed to start 3 times" in run.stderr


def test_bad_worker_counts_and_a_taken_port_fail_before_any_worker_starts(tmp_path, memos_config):
    env = _env(tmp_path, memos_config)
    for bad in (("--workers", "0"), ("--workers", "-2")):
        run = procs.run_memos("serve", *bad, env=env)
        assert run.returncode == 1 and "at least 1 process" in run.stderr, run.stderr
    run = procs.run_memos("serve", env={**env, "MEMOS_WORKERS": "two"})
    assert run.returncode == 1 and "MEMOS_WORKERS: 'two' is not a whole number" in run.stderr, run.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = procs.run_memos("serve", "--addr", "127.0.0.1", "--port", str(port), "--workers", "2", env=env)
    assert run.returncode == 1 and "address already in use" in run.stderr, run.stderr
    assert "started (pid" not in run.stdout + run.stderr


def test_workers_on_a_unix_socket_keep_pids_private_by_default(tmp_path, memos_config):
    env = _env(tmp_path, memos_config, MEMOS_WORKERS="2")  # the variable, without the debug header
    path = tmp_path / "memos.sock"
    log = tmp_path / "unix.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*procs.memos_command(), "serve", "--unix-sock", str(path)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while len(_serving(log.read_text())) < 2:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        for _ in range(10):
            conn = _UnixConnection(str(path))
            conn.request("GET", "/api/v1/instance/profile")
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["version"]
            assert PID_HEADER.lower() not in {h.lower() for h in response.headers}
            conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0, log.read_text()
    assert not path.exists()  # the parent removes the socket it bound


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)
