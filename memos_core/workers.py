"""``memos serve --workers N``: N server processes on one listening address, under one parent.

The parent does the once-only work, then supervises:

* it loads the plugins and migrates the schema before any worker starts, so a bad configuration or
  an unreachable database fails once, up front, and the workers only find the schema current (plugin
  tables are created by the workers' start-up, which serialises it on the database's schema lock);
* it binds the listening sockets itself, before any worker starts, so "address already in use" and
  the like stop the start-up at once, and it keeps holding them. On TCP each worker slot has its own
  socket on the address (``SO_REUSEPORT``), and the kernel spreads new connections over them. One
  socket shared by all workers looked simpler but does not balance: asyncio accepts every pending
  connection on each wake-up, so a burst of keep-alive connections (a proxy's pool, a load
  generator) all landed on one worker while the other idled (measured with wrk: one of two workers
  did all the work). A plain bind before the shared ones keeps a second server from joining the
  port the same way. Because the parent holds each slot's socket, connections queued on it when its
  worker dies are not lost: the replacement takes them up. A unix socket cannot be shared that way,
  so there every worker serves the one socket the parent bound;
* it starts each worker as a fresh interpreter (``python -m memos_core.workers``) rather than a fork,
  so no event loop, database connection or driver thread is ever inherited half-way: a worker
  starts exactly like a single ``memos serve``. The price is the memory of one process per worker.

Signals: SIGTERM or SIGINT to the parent is forwarded (as SIGTERM) to every worker, which stops
accepting, drains its in-flight requests (aiohttp's graceful shutdown) and exits; the parent waits
for them and exits 0. A second signal kills the workers at once. Workers run in their own process
group, so a Ctrl-C in a terminal reaches the parent only, and each one watches a pipe from the
parent: if the parent dies without forwarding anything, the workers shut down gracefully by
themselves instead of serving on unsupervised.

A worker that dies is restarted after a backoff (0.5 s, doubling up to 30 s; back to 0.5 s once a
worker has served for 30 s), and logged. A worker that exits before it is ready three times in a
row means the configuration cannot work: the parent stops the others and exits 1.

Nothing authoritative lives in one worker's memory (the rule for several instances on one
database), so N workers behave as N instances: scheduled jobs are claimed once per slot through the
database, and live events reach a stream held by any worker through the database as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
import traceback
from typing import Any

from aiohttp import web

from .config import Config

log = logging.getLogger("memos_core.workers")

#: What the parent hands a worker (config, socket fds, pipes); internal, not a setting.
STATE_ENV = "MEMOS_WORKER_STATE"
#: Debugging aid: ``1`` makes every worker answer with its PID in :data:`PID_HEADER`. Off by default,
#: so anonymous clients never learn process ids.
DEBUG_PID_ENV = "MEMOS_DEBUG_WORKER_PID"
PID_HEADER = "X-Memos-Worker-Pid"

BACKLOG = 128  # aiohttp's default listen backlog
START_FAILURES_LIMIT = 3
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 30.0  # seconds of service after which a worker's crash counts as a first one again


# --- the parent --------------------------------------------------------------------------------------


def supervise(config: Config) -> int:
    """Run ``config.workers`` worker processes until SIGTERM/SIGINT; the exit status of ``memos serve``."""
    from . import __version__
    from .observe import configure_logging
    from .plugins import PluginError
    from .store import SchemaError

    configure_logging(config.log_format)  # as each worker's ``memos serve`` configures it
    sockets: list[list[socket.socket]] = []
    try:
        asyncio.run(_migrate_once(config))
        if config.unix_sock:
            sockets = [bind_sockets(config)] * config.workers
        else:
            # A plain bind first: it fails on a port anything else listens on, even another server's
            # SO_REUSEPORT sockets, which the workers' own sockets would otherwise silently join.
            for probe in bind_sockets(config):
                probe.close()
            for _ in range(config.workers):
                sockets.append(bind_sockets(config, reuse_port=True))
    except (PluginError, SchemaError, ValueError, OSError) as e:
        for slot_sockets in sockets:
            for s in slot_sockets:
                s.close()
        print(f"memos: {e}", file=sys.stderr)
        return 1
    if not config.unix_sock:
        where = f"http://{config.addr or 'localhost'}:{config.port}"
        print(f"memos-py {__version__} serving on {where} with {config.workers} workers", flush=True)
    try:
        return _Supervisor(config, sockets).run()
    finally:
        for slot_sockets in sockets:
            for s in slot_sockets:
                s.close()
        if config.unix_sock:
            with contextlib.suppress(OSError):
                os.unlink(config.unix_sock)


async def _migrate_once(config: Config) -> None:
    """Create or upgrade the core schema before the workers start (they then only find it current)."""
    from .backup import guard_migrations
    from .plugins import load_plugins
    from .store import Store
    from .store.connect import connect_when_reachable

    store = guard_migrations(Store(load_plugins(config).driver))  # a backup before any schema upgrade
    await connect_when_reachable(store, config.db_connect_timeout)
    try:
        await store.migrate(demo=config.demo)
    finally:
        await store.disconnect()


def bind_sockets(config: Config, *, reuse_port: bool = False) -> list[socket.socket]:
    """Bind and listen where ``memos serve`` would: the unix socket, or every address of ``--addr``
    (all interfaces, IPv4 and IPv6, when it is empty), as aiohttp's own sites bind them.

    ``reuse_port`` lets several such sets share the TCP address, one per worker."""
    if config.unix_sock:
        path = config.unix_sock
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # a stale socket of an earlier run, as asyncio's unix server removes it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        return [sock]
    infos = socket.getaddrinfo(
        config.addr or None, config.port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:
                continue  # an address family this host does not support (IPv6 disabled)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as e:
                message = f"error while attempting to bind on address {address!r}: {e.strerror.lower()}"
                raise OSError(e.errno, message) from None
            sock.listen(BACKLOG)
    except BaseException:
        for s in sockets:
            s.close()
        raise
    if not sockets:
        raise OSError(f"no address to listen on for {config.addr!r}")
    return sockets


@dataclasses.dataclass
class _Slot:
    """One worker position: its current process, and how its recent starts went."""

    index: int
    proc: subprocess.Popen | None = None
    ready_fd: int | None = None  # read end of the pipe the worker writes to once it serves
    ready_at: float | None = None
    failures: int = 0  # consecutive unexpected exits
    start_failures: int = 0  # consecutive exits before ready
    restart_at: float | None = None


class _Supervisor:
    def __init__(self, config: Config, sockets: list[list[socket.socket]]) -> None:
        self.config = config
        self.sockets = sockets  # each slot's listening sockets (the same ones for every slot on a unix socket)
        self.slots = [_Slot(i + 1) for i in range(config.workers)]
        self.signals = 0
        self.exit_code = 0
        self.stopping = False
        # Workers hold the read end; when the parent dies the write end closes and they stop.
        self.lifeline_r, self.lifeline_w = os.pipe()

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots:
                self._spawn(slot)
            while True:
                self._handle_signals()
                self._wait()
                self._reap()
                if self.stopping and not any(s.proc for s in self.slots):
                    break
                self._restart_due()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._kill_all(signal.SIGKILL)
            os.close(self.lifeline_r)
            os.close(self.lifeline_w)
        log.info("all workers stopped")
        return self.exit_code

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals += 1

    def _handle_signals(self) -> None:
        if self.signals and not self.stopping:
            log.info("stopping: letting the workers finish their requests")
            self._stop()
        if self.signals > 1:
            self.signals = 1
            log.warning("second signal: killing the workers")
            self._kill_all(signal.SIGKILL)

    def _stop(self) -> None:
        self.stopping = True
        self._kill_all(signal.SIGTERM)
        for slot in self.slots:
            slot.restart_at = None

    def _kill_all(self, signum: int) -> None:
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(signum)

    def _spawn(self, slot: _Slot) -> None:
        ready_r, ready_w = os.pipe()
        fds = [s.fileno() for s in self.sockets[slot.index - 1]]
        state = {
            "config": dataclasses.asdict(self.config),
            "fds": fds,
            "ready_fd": ready_w,
            "lifeline_fd": self.lifeline_r,
            "slot": slot.index,
        }
        try:
            slot.proc = subprocess.Popen(
                [sys.executable, "-m", "memos_core.workers"],
                env={**os.environ, STATE_ENV: json.dumps(state)},
                pass_fds=[*fds, ready_w, self.lifeline_r],
                process_group=0,  # a terminal's Ctrl-C reaches the parent only; it forwards one SIGTERM
            )
        except OSError:
            os.close(ready_r)
            raise
        finally:
            os.close(ready_w)
        slot.ready_fd, slot.ready_at, slot.restart_at = ready_r, None, None
        log.info("worker %d started (pid %d)", slot.index, slot.proc.pid)

    def _wait(self) -> None:
        """Sleep until a worker reports ready or a tenth of a second passes (then look for exits)."""
        fds = [s.ready_fd for s in self.slots if s.ready_fd is not None]
        try:
            readable, _, _ = select.select(fds, [], [], 0.1)
        except InterruptedError:  # pragma: no cover - PEP 475 retries select; kept for clarity
            return
        for slot in self.slots:
            if slot.ready_fd in readable:
                data = os.read(slot.ready_fd, 16)
                os.close(slot.ready_fd)
                slot.ready_fd = None
                if data and slot.proc is not None:
                    slot.ready_at = time.monotonic()
                    slot.start_failures = 0
                    log.info("worker %d (pid %d) is serving", slot.index, slot.proc.pid)

    def _reap(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.proc is None or (code := slot.proc.poll()) is None:
                continue
            pid, slot.proc = slot.proc.pid, None
            if slot.ready_fd is not None:
                os.close(slot.ready_fd)
                slot.ready_fd = None
            how = f"signal {-code}" if code < 0 else f"code {code}"
            if self.stopping:
                log.info("worker %d (pid %d) exited with %s", slot.index, pid, how)
                continue
            if slot.ready_at is None:
                slot.start_failures += 1
                if slot.start_failures >= START_FAILURES_LIMIT:
                    log.error(
                        "worker %d (pid %d) exited with %s before serving, %d times in a row: giving up",
                        slot.index,
                        pid,
                        how,
                        slot.start_failures,
                    )
                    times = slot.start_failures
                    print(f"memos: worker {slot.index} failed to start {times} times", file=sys.stderr, flush=True)
                    self.exit_code = 1
                    self._stop()
                    continue
            elif now - slot.ready_at >= STABLE_AFTER:
                slot.failures = 0
            slot.failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (slot.failures - 1))
            log.warning("worker %d (pid %d) exited with %s; restarting it in %.1f s", slot.index, pid, how, delay)
            slot.restart_at = now + delay

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.proc is None and slot.restart_at is not None and now >= slot.restart_at:
                self._spawn(slot)


# --- a worker ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Worker:
    """What a worker process got from its parent: the listening sockets and two pipes."""

    slot: int
    sockets: list[socket.socket]
    ready_fd: int
    lifeline_fd: int

    def attach(self, app: web.Application) -> None:
        """Hook the worker's duties into the app before it starts."""
        app.on_startup.append(self._watch_parent)
        if os.environ.get(DEBUG_PID_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
            app.on_response_prepare.append(_pid_header)

    def ready(self, *args: Any, **kwargs: Any) -> None:
        """Called by :func:`memos_core.app.run` once the sites accept connections: tell the parent."""
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, b"1")
            os.close(self.ready_fd)

    async def _watch_parent(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()

        def parent_gone() -> None:
            loop.remove_reader(self.lifeline_fd)
            log.warning("worker %d: the parent process is gone; shutting down", self.slot)
            os.kill(os.getpid(), signal.SIGTERM)  # aiohttp's graceful shutdown

        loop.add_reader(self.lifeline_fd, parent_gone)


async def _pid_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[PID_HEADER] = str(os.getpid())


def _config_from_json(values: dict[str, Any]) -> Config:
    fields = {f.name for f in dataclasses.fields(Config)}
    return Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in fields})


def worker_main() -> int:
    """Entry point of a worker process (started by :func:`supervise`, never by hand)."""
    from .cli import _serve

    raw = os.environ.pop(STATE_ENV, "")
    if not raw:
        print("memos: memos_core.workers is started by `memos serve --workers N`", file=sys.stderr)
        return 2
    state = json.loads(raw)
    worker = Worker(
        slot=state["slot"],
        sockets=[socket.socket(fileno=fd) for fd in state["fds"]],
        ready_fd=state["ready_fd"],
        lifeline_fd=state["lifeline_fd"],
    )
    try:
        return _serve(_config_from_json(state["config"]), worker)
    except Exception:
        traceback.print_exc()  # a plugin that cannot start: the parent counts the failure and may give up
        return 1


if __name__ == "__main__":
    sys.exit(worker_main())
