"""wrk against a real `memos serve` and, in the same run, against a plain aiohttp server (the ceiling).

For each scenario the response of `memos serve` is captured once, then a plain aiohttp server with
the same worker count returns exactly those bytes for the same request: what Python and aiohttp cost
with no application behind them. Both are loaded by `wrk` (2 threads, 16 connections by default);
the report gives requests/s, p50/p99 latency (from a Lua `done` hook), the server's CPU per request
(utime+stime of the server process and its workers from /proc, over the requests wrk counted) and
memos' share of the ceiling. Then the targets of issue #13 with their figures, met or not.

Data set (upstream's benchmark seed): 5,000 memos, every 4th PUBLIC, a reaction on every 5th, a
reference from every 4th, a comment on every 6th, written straight into the store; page size 16.

* S1  signed-in first page with a personal access token
* S2  page 10 by `pageToken`; the anonymous public page; `users/{u}:getStats` at 10,000 memos;
      S1 again at 100,000 memos (the data set grown in place)
* S3  `POST /api/v1/memos` with three tags while the user's webhook target accepts and never answers
* S4  RSS once idle after start, RSS after N minutes of mixed load, cold start to the first 200

SQLite always; PostgreSQL as well when `--pg-dsn` (or MEMOS_TEST_POSTGRES_DSN) names a server: a
fresh database is created on it for the run and dropped afterwards.

    .venv/bin/python benchmarks/bench_wrk.py [--quick] [--workers N] [--s4-minutes 10]
        [--seconds 10] [--connections 16] [--pg-dsn postgresql://user:password@host:port/db]
        [--response-cache-mb 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from _common import (
    BENCH_USER,
    BulkSeeder,
    bench_user,
    free_port,
    in_process,
    process_tree,
    rss_mb,
    statement_counts,
    tree_cpu_seconds,
)

from memos_core.config import Config
from memos_core.store import users as user_store

PAGE_SIZE = 16
BASE_MEMOS, STATS_MEMOS, BIG_MEMOS = 5_000, 10_000, 100_000
S3_BODY = json.dumps({"content": "Load test memo #bench #perf/create #s3", "visibility": "PRIVATE"})

CEILING_SERVER = r"""
import os, socket, sys
from aiohttp import web

port, body_file, workers, content_type = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
body = open(body_file, "rb").read()

async def answer(request):
    await request.read()
    return web.Response(body=body, content_type=content_type)

sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(1024)
for _ in range(workers - 1):  # the same number of processes as memos, on one listening socket
    if os.fork() == 0:
        break
app = web.Application()
app.router.add_route("*", "/{tail:.*}", answer)
web.run_app(app, sock=sock, print=None, access_log=None)
"""

LUA_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%.0f,"p99_us":%.0f,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def lua_str(value: str) -> str:
    """A Lua long-bracket string literal (no escapes to get wrong)."""
    level = "=" * 4
    assert f"]{level}]" not in value
    return f"[{level}[{value}]{level}]"


def lua_request(method: str, path: str, headers: dict[str, str], body: str | None) -> str:
    table = ", ".join(f"[ {lua_str(k)} ] = {lua_str(v)}" for k, v in headers.items())
    return f"wrk.format({lua_str(method)}, {lua_str(path)}, {{{table}}}, {lua_str(body) if body else 'nil'})"


# -- wrk -------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary, installed with apt-get when missing and we are root; otherwise say how."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
            subprocess.run(["apt-get", "update"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("bench_wrk needs wrk: install the Debian package (sudo apt-get install -y wrk) and run again")


@dataclasses.dataclass
class Run:
    """One wrk run against one server."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and non-2xx/3xx answers
    cpu_ms: float | None  # server CPU per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Wrk:
    def __init__(self, binary: str, folder: Path, threads: int) -> None:
        self.binary = binary
        self.folder = folder
        self.threads = threads
        self._n = 0

    def run(
        self,
        base: str,
        requests: list[tuple[str, str, dict[str, str], str | None]],
        *,
        seconds: float,
        connections: int,
        server_pid: int | None = None,
    ) -> Run:
        """Load ``base`` with ``requests`` (one, or several taken in turn) and measure the server."""
        self._n += 1
        script = self.folder / f"wrk{self._n}.lua"
        if len(requests) == 1:
            method, path, headers, body = requests[0]
            lines = [f"wrk.method = {lua_str(method)}", f"wrk.path = {lua_str(path)}"]
            lines += [f"wrk.headers[ {lua_str(k)} ] = {lua_str(v)}" for k, v in headers.items()]
            if body:
                lines.append(f"wrk.body = {lua_str(body)}")
        else:
            built = ",\n    ".join(lua_request(*r) for r in requests)
            lines = [
                "local reqs, i = nil, 0",
                f"function init(args)\n  reqs = {{\n    {built}\n  }}\nend",
                "function request()\n  i = i % #reqs + 1\n  return reqs[i]\nend",
            ]
        script.write_text("\n".join(lines) + "\n" + LUA_DONE)
        pids = process_tree(server_pid) if server_pid else []
        before = tree_cpu_seconds(pids)
        threads = max(1, min(self.threads, connections))
        cmd = [self.binary, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        out = subprocess.run([*cmd, "-s", str(script), base], capture_output=True, text=True)
        after = tree_cpu_seconds(pids)
        match = re.search(r"^BENCH_JSON (.*)$", out.stdout, re.M)
        if out.returncode != 0 or not match:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
        r = json.loads(match.group(1))
        cpu = sum(after[p] - before[p] for p in after if p in before)
        return Run(
            requests=r["requests"],
            seconds=r["duration_us"] / 1e6,
            p50_ms=r["p50_us"] / 1000,
            p99_ms=r["p99_us"] / 1000,
            errors=sum(r[k] for k in ("connect", "read", "write", "status", "timeout")),
            cpu_ms=cpu * 1000 / r["requests"] if pids and r["requests"] else None,
        )


# -- processes -------------------------------------------------------------------------------------


def request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None
) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read(), r.getheader("Content-Type", "")
    finally:
        conn.close()


def wait_200(port: int, path: str, headers: dict[str, str], t0: float, proc: subprocess.Popen, timeout: float) -> float:
    """Seconds from ``t0`` until ``path`` first answers 200 (polled every 5 ms)."""
    while True:
        try:
            if request(port, "GET", path, headers)[0] == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before {path} answered")
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{path} did not answer 200 within {timeout:.0f}s")
        time.sleep(0.005)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process we started (it drains), then its process group if anything is left."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: only the processes it forked
    proc.wait(10)


def workers_flag_supported() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "memos_core.cli", "serve", "--help"], capture_output=True, text=True
    ).stdout
    return "--workers" in out


class MemosServer:
    def __init__(self, env: dict[str, str], workers: int | None, log: Path) -> None:
        self.port = free_port()
        self.env = {**env, "MEMOS_PORT": str(self.port), "MEMOS_ADDR": "127.0.0.1"}
        self.cmd = [sys.executable, "-m", "memos_core.cli", "serve"]
        if workers is not None:
            self.cmd += ["--workers", str(workers)]
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Spawn; returns the perf_counter at spawn time."""
        t0 = time.perf_counter()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        return t0

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> tuple[float, float]:
        """(total over the process tree, largest single process) RSS in MiB."""
        values = [v for v in (rss_mb(p) for p in process_tree(self.pid)) if v is not None]
        return sum(values), max(values)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Ceiling:
    """The plain aiohttp server answering every request with ``body``."""

    def __init__(self, folder: Path, body: bytes, content_type: str, workers: int) -> None:
        self.port = free_port()
        body_file = folder / f"ceiling-{self.port}.body"
        body_file.write_bytes(body)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CEILING_SERVER, str(self.port), str(body_file), str(workers), content_type],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        t0 = time.perf_counter()
        wait_200(self.port, "/", {}, t0, self.proc, 30)
        while len(process_tree(self.proc.pid)) < workers and time.perf_counter() - t0 < 10:
            time.sleep(0.05)

    def __enter__(self) -> Ceiling:
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)


class StallingTarget:
    """A webhook receiver that accepts connections and never answers (held open until the end)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


# -- one driver --------------------------------------------------------------------------------------


@dataclasses.dataclass
class DriverResult:
    name: str
    notes: list[str] = dataclasses.field(default_factory=list)
    pairs: dict[str, tuple[Run, Run | None]] = dataclasses.field(default_factory=dict)
    statements: dict[str, int] = dataclasses.field(default_factory=dict)
    stats_p50_1conn: float | None = None
    idle_rss: tuple[float, float] | None = None
    mixed: Run | None = None
    mixed_rss: tuple[float, float] | None = None
    cold_healthz: float | None = None
    cold_memos: float | None = None
    sync_mode: str = ""


async def sync_mode(config: Config) -> str:
    """The durability setting the driver actually runs with (asked on one of its connections)."""
    async with in_process(config) as (_client, ctx):
        store = ctx.store
        async with store.connection():
            if store.dialect == "sqlite":
                value = await store.fetch_val(sa.text("PRAGMA synchronous"))
                names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
                return f"synchronous={names.get(value, value)} (set by the SQLite driver on every connection)"
            value = await store.fetch_val(sa.text("SHOW synchronous_commit"))
            return f"synchronous_commit={value}"


async def prepare(config: Config, seeder_box: list[BulkSeeder]) -> tuple[str, dict[str, int], float]:
    """The bench user, a PAT, the 5,000 memos, and the statements per ListMemos by page size."""
    async with in_process(config) as (client, ctx):
        pat = await bench_user(client)
        async with ctx.store.connection():
            user = await user_store.get_user(ctx.store, username=BENCH_USER)
        seeder = BulkSeeder(user_id=user.id)
        seeder_box.append(seeder)
        took = await seeder.grow(ctx, BASE_MEMOS)
        h = {"Authorization": f"Bearer {pat}"}
        await statement_counts(client, h, sizes=(PAGE_SIZE,))  # warm: count steady-state requests
        stmts = await statement_counts(client, h, sizes=(PAGE_SIZE, 50, 200), anonymous_sizes=(PAGE_SIZE,))
    return pat, stmts, took


async def grow(config: Config, seeder: BulkSeeder, total: int) -> float:
    async with in_process(config) as (_client, ctx):
        return await seeder.grow(ctx, total)


def run_driver(
    name: str, config: Config, env: dict[str, str], args: argparse.Namespace, wrk: Wrk, folder: Path
) -> DriverResult:
    res = DriverResult(name)
    seeders: list[BulkSeeder] = []
    pat, res.statements, took = asyncio.run(prepare(config, seeders))
    seeder = seeders[0]
    res.notes.append(f"seeded {BASE_MEMOS} memos straight into the store in {took:.1f}s")
    res.sync_mode = asyncio.run(sync_mode(config))
    auth = {"Authorization": f"Bearer {pat}"}
    s1 = f"/api/v1/memos?pageSize={PAGE_SIZE}"
    log = folder / f"memos-{name}.log"

    # S4 cold start: spawn to the first 200 of /healthz and of the S1 request, polled side by side.
    cold = MemosServer(env, args.workers_flag, log)
    t0 = cold.start()
    try:
        found: dict[str, float] = {}
        assert cold.proc is not None
        poll = [
            threading.Thread(
                target=lambda: found.__setitem__("h", wait_200(cold.port, "/healthz", {}, t0, cold.proc, 60))
            ),
            threading.Thread(target=lambda: found.__setitem__("m", wait_200(cold.port, s1, auth, t0, cold.proc, 60))),
        ]
        for t in poll:
            t.start()
        for t in poll:
            t.join()
        res.cold_healthz, res.cold_memos = found.get("h"), found.get("m")
    finally:
        cold.stop()

    server = MemosServer(env, args.workers_flag, log)
    t0 = server.start()
    stall = StallingTarget()
    try:
        assert server.proc is not None
        wait_200(server.port, "/healthz", {}, t0, server.proc, 60)
        time.sleep(2)  # settle: start-up jobs, worker processes
        res.idle_rss = server.rss()
        base = f"http://127.0.0.1:{server.port}"

        def pair(label: str, method: str, path: str, headers: dict[str, str], body: str | None = None) -> None:
            hdrs = {**headers, "Content-Type": "application/json"} if body else headers
            status, answer, ctype = request(server.port, method, path, hdrs, body)
            if status != 200:
                raise RuntimeError(f"{label}: {method} {path} answered {status}: {answer[:300]!r}")
            reqs = [(method, path, hdrs, body)]
            wrk.run(base, reqs, seconds=args.warmup, connections=args.connections)
            mine = wrk.run(base, reqs, seconds=args.seconds, connections=args.connections, server_pid=server.pid)
            with Ceiling(folder, answer, ctype.split(";")[0] or "application/json", args.workers) as c:
                cbase = f"http://127.0.0.1:{c.port}"
                wrk.run(cbase, reqs, seconds=args.warmup, connections=args.connections)
                ceiling = wrk.run(
                    cbase, reqs, seconds=args.seconds, connections=args.connections, server_pid=c.proc.pid
                )
            res.pairs[label] = (mine, ceiling)
            print(f"[{name}] {label}: {mine.rps:.0f} req/s, ceiling {ceiling.rps:.0f} req/s", flush=True)

        pair("S1 first page, PAT (5k)", "GET", s1, auth)
        token = ""
        for _ in range(9):
            status, answer, _ = request(server.port, "GET", f"{s1}&pageToken={quote(token)}", auth)
            token = json.loads(answer)["nextPageToken"]
        page10 = f"{s1}&pageToken={quote(token)}"
        pair("S2 page 10 by pageToken (5k)", "GET", page10, auth)
        pair("S2 anonymous public page (5k)", "GET", s1, {})

        stats = f"/api/v1/users/{BENCH_USER}:getStats"
        create = ("POST", "/api/v1/memos", {**auth, "Content-Type": "application/json"}, S3_BODY)
        minutes = args.s4_minutes
        mix = [("GET", s1, auth, None)] * 3 + [("GET", page10, auth, None)] * 2 + [("GET", s1, {}, None)] * 2
        mix += [("GET", stats, auth, None), create]
        print(f"[{name}] S4 mixed load for {minutes:g} min ...", flush=True)
        res.mixed = wrk.run(base, mix, seconds=minutes * 60, connections=args.connections, server_pid=server.pid)
        res.mixed_rss = server.rss()

        took = asyncio.run(grow(config, seeder, STATS_MEMOS))
        res.notes.append(f"grown to {STATS_MEMOS} memos in {took:.1f}s")
        pair("S2 getStats (10k)", "GET", stats, auth)
        res.stats_p50_1conn = wrk.run(base, [("GET", stats, auth, None)], seconds=args.seconds, connections=1).p50_ms

        took = asyncio.run(grow(config, seeder, BIG_MEMOS))
        res.notes.append(f"grown to {BIG_MEMOS} memos in {took:.1f}s")
        pair("S1 first page, PAT (100k)", "GET", s1, auth)

        hook = {"url": f"http://127.0.0.1:{stall.port}/hook", "displayName": "stalls"}
        status, answer, _ = request(
            server.port,
            "POST",
            f"/api/v1/users/{BENCH_USER}/webhooks",
            {**auth, "Content-Type": "application/json"},
            json.dumps(hook),
        )
        if status != 200:
            raise RuntimeError(f"could not add the webhook: {status} {answer[:300]!r}")
        pair("S3 create, 3 tags, webhook stalls", *create)
        res.notes.append(f"S3 webhook target: {len(stall.held)} connections accepted, none answered")
    except Exception:
        print(f"[{name}] server log tail:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
        stall.close()
    return res


# -- report ------------------------------------------------------------------------------------------


def fmt_run(r: Run | None) -> str:
    if r is None:
        return f"{'':>8} {'':>8} {'':>8} {'':>8}"
    if not r.requests:
        return f"{'none completed in the run':>35}"
    cpu = f"{r.cpu_ms:8.2f}" if r.cpu_ms is not None else f"{'-':>8}"
    return f"{r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {cpu}"


def report(res: DriverResult, args: argparse.Namespace) -> None:
    print(f"\n== {res.name}: memos serve ({args.workers} worker(s)) vs plain aiohttp ceiling ==")
    print(f"wrk {args.connections} connections, {args.seconds:g}s per run after {args.warmup:g}s warm-up")
    for note in res.notes:
        print(f"({note})")
    print(f"(durability: {res.sync_mode})")
    head = f"{'scenario':36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8} |"
    head += f" {'ceiling':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8} | {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for label, (mine, ceiling) in res.pairs.items():
        ratio = f"{mine.rps / ceiling.rps:6.1%}" if ceiling and ceiling.rps else ""
        errors = f"  ({mine.errors} errors)" if mine.errors else ""
        print(f"{label:36} {fmt_run(mine)} | {fmt_run(ceiling)} | {ratio}{errors}")
    print(f"getStats at {STATS_MEMOS} memos, one connection: p50 {res.stats_p50_1conn:.2f} ms")
    if res.mixed:
        print(
            f"S4 mixed load (S1, page 10, anonymous, getStats, create): {res.mixed.rps:.0f} req/s, "
            f"p99 {res.mixed.p99_ms:.1f} ms" + (f", {res.mixed.errors} errors" if res.mixed.errors else "")
        )
    if res.idle_rss and res.mixed_rss:
        print(
            f"S4 RSS: idle {res.idle_rss[0]:.1f} MiB (largest process {res.idle_rss[1]:.1f}), "
            f"after {args.s4_minutes:g} min of mixed load {res.mixed_rss[0]:.1f} MiB "
            f"(largest process {res.mixed_rss[1]:.1f})"
        )
    print(f"S4 cold start: first /healthz 200 after {res.cold_healthz:.2f}s, first S1 200 after {res.cold_memos:.2f}s")
    print(
        "SQL statements per ListMemos (in-process count): " + ", ".join(f"{k}: {v}" for k, v in res.statements.items())
    )


def targets(res: DriverResult, sqlite: DriverResult | None, workers: int) -> list[tuple[str, str, bool | None]]:
    """(target, figure, met) for each target of the issue's part 2."""
    rows: list[tuple[str, str, bool | None]] = []
    s1, c1 = res.pairs["S1 first page, PAT (5k)"]
    ratio = s1.rps / c1.rps if c1 and c1.rps else 0.0
    note = "" if workers == 1 else f" ({workers} workers: run with --workers 1)"
    rows.append(("S1 >= 10% of ceiling, 1 worker", f"{ratio:.1%}{note}", ratio >= 0.10 if workers == 1 else None))
    for label in ("S2 page 10 by pageToken (5k)", "S2 anonymous public page (5k)"):
        r = res.pairs[label][0]
        share = r.rps / s1.rps if s1.rps else 0.0
        short = "page 10" if "page 10" in label else "anonymous page"
        rows.append((f"S2 {short} within 20% of S1", f"{share:.0%} of S1 req/s", share >= 0.8))
    big = res.pairs["S1 first page, PAT (100k)"][0]
    growth = big.p50_ms / s1.p50_ms if s1.p50_ms else 0.0
    rows.append(
        ("S1@100k p50 <= 1.5x S1@5k p50", f"{big.p50_ms:.1f} / {s1.p50_ms:.1f} ms = {growth:.2f}x", growth <= 1.5)
    )
    stats_loaded = res.pairs["S2 getStats (10k)"][0].p50_ms
    p50 = res.stats_p50_1conn or 0.0
    loaded = f"{stats_loaded:.0f} ms" if res.pairs["S2 getStats (10k)"][0].requests else "none done"
    rows.append(("getStats p50 <= 30 ms at 10k", f"{p50:.1f} ms (1 conn; {loaded} loaded)", p50 <= 30))
    signed_in = [v for k, v in res.statements.items() if k.startswith("signed-in")]
    rows.append(
        ("<= 4 SQL statements, signed-in ListMemos", f"{max(signed_in)} (pageSize 16/50/200)", max(signed_in) <= 4)
    )
    s3 = res.pairs["S3 create, 3 tags, webhook stalls"][0]
    rows.append(("S3 >= 500 creates/s", f"{s3.rps:.0f}/s", s3.rps >= 500))
    rows.append(("S3 p99 <= 50 ms", f"{s3.p99_ms:.1f} ms", s3.p99_ms <= 50))
    idle = res.idle_rss[1] if res.idle_rss else 0.0
    rows.append(("idle RSS <= 80 MB", f"{idle:.1f} MiB", idle <= 80))
    cold = res.cold_memos or 0.0
    rows.append(("cold start <= 1.5 s", f"{cold:.2f} s to S1 ({res.cold_healthz:.2f} s /healthz)", cold <= 1.5))
    if sqlite is not None and sqlite is not res:
        s, c = sqlite.pairs["S1 first page, PAT (5k)"]
        theirs = s.rps / c.rps if c and c.rps else 0.0
        rows.append(("PostgreSQL S1 ratio >= SQLite's", f"{ratio:.1%} vs {theirs:.1%}", ratio >= theirs))
    return rows


def print_targets(results: list[DriverResult], workers: int) -> None:
    sqlite = next((r for r in results if r.name == "SQLite"), None)
    tables = [targets(r, sqlite, workers) for r in results]
    labels: list[str] = []
    for t in tables:
        labels += [row[0] for row in t if row[0] not in labels]
    width = 42
    head = f"{'target':{width}}" + "".join(f" | {r.name + ' figure':36} {'met':>7}" for r in results)
    print("\n== Targets (issue #13, part 2) ==")
    print(head)
    print("-" * len(head))
    for label in labels:
        line = f"{label:{width}}"
        for t in tables:
            row = next((row for row in t if row[0] == label), None)
            if row is None:
                line += f" | {'':36} {'':>7}"
            else:
                met = "n/a" if row[2] is None else ("met" if row[2] else "NOT met")
                line += f" | {row[1]:36} {met:>7}"
        print(line)


# -- main --------------------------------------------------------------------------------------------


def postgres_driver() -> Any:
    for ep in importlib.metadata.entry_points(group="memos.drivers"):
        if ep.name == "postgres":
            return ep.load()
    return None


#: Installed by the ``all`` extra, not by default, and not needed by any scenario.
OPTIONAL_PLUGINS = ("semantic", "storage-s3", "word-count")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs (4s) and a 0.5-minute S4 window")
    p.add_argument("--seconds", type=float, help="seconds per measured wrk run (default 10, quick 4)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up before each (default 2, quick 1)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", type=int, default=1, help="memos serve --workers N (when it has the flag)")
    p.add_argument(
        "--s4-minutes", type=float, help="minutes of mixed load before the RSS reading (default 10, quick 0.5)"
    )
    p.add_argument("--pg-dsn", default=os.environ.get("MEMOS_TEST_POSTGRES_DSN", ""), help="PostgreSQL server DSN")
    p.add_argument(
        "--response-cache-mb",
        help="MEMOS_RESPONSE_CACHE_MB for the server (default: its own, 16); 0 measures every answer built anew",
    )
    p.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    args = p.parse_args()
    args.seconds = args.seconds or (4.0 if args.quick else 10.0)
    args.warmup = args.warmup or (1.0 if args.quick else 2.0)
    args.s4_minutes = args.s4_minutes if args.s4_minutes is not None else (0.5 if args.quick else 10.0)

    wrk_bin = ensure_wrk()
    args.workers_flag = None
    if workers_flag_supported():
        args.workers_flag = args.workers
    elif args.workers != 1:
        print(f"memos serve has no --workers flag yet: running 1 worker (and a 1-worker ceiling), not {args.workers}")
        args.workers = 1
    started, load_before = time.perf_counter(), os.getloadavg()

    results: list[DriverResult] = []
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    base_env["MEMOS_ALLOW_PRIVATE_WEBHOOKS"] = "1"  # the stalling webhook target is on loopback
    # The default plugins (and memos-webhook, which S3 needs): a development venv also has the
    # optional ones, whose work (embedding every memo, say) is not what these targets measure.
    base_env["MEMOS_DISABLE_PLUGINS"] = ",".join(OPTIONAL_PLUGINS)
    if args.response_cache_mb is not None:
        base_env["MEMOS_RESPONSE_CACHE_MB"] = args.response_cache_mb
    print(
        "response cache: "
        + ("off" if args.response_cache_mb in ("0", "0.0") else f"{args.response_cache_mb or 16} MB")
        + " (an unchanged database serves a kept answer again; see memos_core/response_cache.py)"
    )
    with tempfile.TemporaryDirectory(prefix="memos-bench-") as tmp:
        folder = Path(tmp)
        wrk = Wrk(wrk_bin, folder, args.threads)
        if not args.no_sqlite:
            data = folder / "sqlite"
            data.mkdir()
            config = Config(data=str(data), disable_plugins=OPTIONAL_PLUGINS)
            env = {**base_env, "MEMOS_DATA": str(data), "MEMOS_DRIVER": "sqlite"}
            results.append(run_driver("SQLite", config, env, args, wrk, folder))
            report(results[-1], args)
        if args.pg_dsn:
            driver = postgres_driver()
            if driver is None:
                print("\n(no 'postgres' entry point in memos.drivers: PostgreSQL skipped)")
            else:
                name = f"memos_bench_{uuid.uuid4().hex[:12]}"
                dsn = asyncio.run(driver.create_test_database(args.pg_dsn, name))
                try:
                    data = folder / "postgres"
                    data.mkdir()
                    config = Config(data=str(data), driver="postgres", dsn=dsn, disable_plugins=OPTIONAL_PLUGINS)
                    env = {**base_env, "MEMOS_DATA": str(data), "MEMOS_DRIVER": "postgres", "MEMOS_DSN": dsn}
                    results.append(run_driver("PostgreSQL", config, env, args, wrk, folder))
                    report(results[-1], args)
                finally:
                    asyncio.run(driver.drop_test_database(args.pg_dsn, name))

    if results:
        print_targets(results, args.workers)
    load_after = os.getloadavg()
    print(
        f"\n{time.perf_counter() - started:.0f}s; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        f"on {os.cpu_count()} CPUs. wrk, the server and the ceiling share these CPUs; on a machine where "
        "others run tests the figures are noisy (CPU per request varies less than req/s)."
    )


if __name__ == "__main__":
    main()
