"""The scheduler loop: one asyncio task per process that wakes at the next due slot.

A *slot* is the epoch second a cron spec names. Before running a job for a slot, the process
claims it by inserting ``(job, slot)`` into ``memos_py_job_run``; the primary key lets exactly one
instance win, so several app processes on one database run each slot once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from croniter import croniter

from memos_core import ensure_plugin_schema, metrics

log = logging.getLogger("memos_scheduler")

#: The cron spec of jobs that run once when the process starts (in every process, unclaimed).
STARTUP = "@startup"
#: Name under which the scheduler records its tables' schema version.
PLUGIN_NAME = "scheduler"
SCHEMA_VERSION = 1
MAX_ERROR_CHARS = 2000

metadata = sa.MetaData()
job_run = sa.Table(
    "memos_py_job_run",
    metadata,
    # VARCHAR, not TEXT, so MySQL can index the key.
    sa.Column("job", sa.String(128), primary_key=True),
    sa.Column("slot", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("started_ts", sa.BigInteger, nullable=False),
    sa.Column("finished_ts", sa.BigInteger, nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Index("idx_memos_py_job_run_slot", "slot"),  # pruning deletes by slot across jobs
)

JOB_RUNS = metrics.counter(
    "memos_job_runs_total",
    "Background job runs in this process, by job and result (ok, failed, cancelled at shutdown).",
    ["job", "result"],
)
JOB_SECONDS = metrics.histogram("memos_job_duration_seconds", "Time of background job runs, by job.", ["job"])

JobFunction = Callable[[web.Application], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    spec: str
    fn: JobFunction

    @property
    def at_startup(self) -> bool:
        return self.spec == STARTUP


def validate_spec(spec: str) -> None:
    """Accept ``@startup``, croniter keywords (``@hourly``…) and 5- or 6-field specs (6th = seconds)."""
    if spec == STARTUP:
        return
    if not isinstance(spec, str) or not croniter.is_valid(spec):
        raise ValueError(f"invalid cron spec {spec!r}")
    if not spec.startswith("@") and len(spec.split()) not in (5, 6):
        raise ValueError(f"cron spec {spec!r} must have 5 fields, or 6 with seconds last")


def make_job(name: Any, spec: Any, fn: Any) -> Job:
    if not isinstance(name, str) or not name or len(name) > 128:
        raise ValueError(f"job name must be a non-empty string of at most 128 characters, got {name!r}")
    validate_spec(spec)
    if not callable(fn):
        raise ValueError(f"job {name!r}: {fn!r} is not callable")
    return Job(name, spec, fn)


def latest_slot(spec: str, now: float) -> int:
    """The last slot of ``spec`` at or before ``now`` (croniter's ``get_prev`` is strict)."""
    return int(croniter(spec, math.floor(now) + 1).get_prev(float))


def next_slot(spec: str, after: float) -> int:
    """The first slot of ``spec`` strictly after ``after``."""
    return int(croniter(spec, math.floor(after)).get_next(float))


def default_owner() -> str:
    """Who claimed a run: host, pid and a random part (two apps in one process differ)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    """Runs ``jobs`` for ``app``; ``clock``/``sleep`` are injectable so tests need not wait."""

    def __init__(
        self,
        app: web.Application,
        store: Any,
        jobs: list[Job],
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        max_sleep: float = 30.0,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.store = store
        self.jobs = list(jobs)
        self.owner = owner or default_owner()
        self.clock = clock
        self.sleep = sleep
        self.max_sleep = max_sleep  # re-read the wall clock at least this often (clock changes)
        self.shutdown_timeout = shutdown_timeout
        self._loop_task: asyncio.Task | None = None
        self._running: dict[str, asyncio.Task] = {}  # job name -> its run in progress
        self._tasks: set[asyncio.Task] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await ensure_plugin_schema(self.store, PLUGIN_NAME, SCHEMA_VERSION, metadata)
        for job in self.jobs:
            if job.at_startup:
                self._spawn(job, self._run_unclaimed(job), f"{job.name}@startup")
        if any(not j.at_startup for j in self.jobs):
            self._loop_task = asyncio.create_task(self._loop(), name="memos-scheduler")
        log.info("scheduler %s started with %d job(s)", self.owner, len(self.jobs))

    async def stop(self) -> None:
        """Stop planning; let running jobs finish for ``shutdown_timeout`` seconds, then cancel them."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        tasks = set(self._tasks)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=self.shutdown_timeout)
        for task in pending:
            log.warning("scheduler: cancelling job run %s at shutdown", task.get_name())
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running(self) -> list[str]:
        """Names of the jobs with a run in progress in this process."""
        return sorted(self._running)

    # -- planning ----------------------------------------------------------------------------
    async def _loop(self) -> None:
        cron = [j for j in self.jobs if not j.at_startup]
        last = self.clock()
        # Slots missed while the process was down are not replayed: start after "now".
        due_at = {j.name: next_slot(j.spec, last) for j in cron}
        while True:
            now = self.clock()
            if now < last:  # the wall clock went back: plan again from the new "now"
                due_at = {j.name: next_slot(j.spec, now) for j in cron}
            last = now
            for job in cron:
                if due_at[job.name] <= now:
                    # Only the latest due slot runs, however many passed (a late wake-up, a pause).
                    slot = latest_slot(job.spec, now)
                    self.launch(job, slot)
                    due_at[job.name] = next_slot(job.spec, slot)
            delay = min(due_at.values()) - self.clock()
            await self.sleep(min(max(delay, 0.0), self.max_sleep))

    def launch(self, job: Job, slot: int) -> asyncio.Task | None:
        """Start ``job`` for ``slot`` as its own task, unless its previous run is still going here.

        A skipped slot is not claimed, so another instance may still take it.
        """
        if job.name in self._running:
            log.warning("scheduler: job %s still running, skipping slot %d here", job.name, slot)
            return None
        return self._spawn(job, self._run_claimed(job, slot), f"{job.name}@{slot}")

    def _spawn(self, job: Job, coro: Awaitable[Any], name: str) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._running[job.name] = task
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if self._running.get(job.name) is t:
                del self._running[job.name]

        task.add_done_callback(done)
        return task

    # -- running -----------------------------------------------------------------------------
    async def _run_claimed(self, job: Job, slot: int) -> None:
        # Each run holds a connection of its own; its statements count as background work.
        with self.store.background():
            await self._run_claimed_now(job, slot)

    async def _run_claimed_now(self, job: Job, slot: int) -> None:
        async with self.store.connection():
            if not await self._claim(job, slot):
                return
            error = ""
            try:
                await _call(job, self.app)
            except asyncio.CancelledError:
                await self._finish(job, slot, "cancelled: the process shut down")
                raise
            except Exception as exc:
                log.exception("scheduler: job %s failed (slot %d)", job.name, slot)
                error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            await self._finish(job, slot, error)

    async def _run_unclaimed(self, job: Job) -> None:
        with self.store.background():
            async with self.store.connection():
                try:
                    await _call(job, self.app)
                except Exception:
                    log.exception("scheduler: start-up job %s failed", job.name)

    async def _claim(self, job: Job, slot: int) -> bool:
        row = {
            "job": job.name,
            "slot": slot,
            "owner": self.owner,
            "started_ts": int(self.clock()),
            "finished_ts": None,
            "error": "",
        }
        try:
            async with self.store.transaction():
                await self.store.execute(job_run.insert().values(**row))
        except Exception as exc:
            if self.store.is_unique_violation(exc):
                log.debug("scheduler: %s slot %d was claimed by another instance", job.name, slot)
            else:
                log.exception("scheduler: could not claim %s slot %d", job.name, slot)
            return False
        return True

    async def _finish(self, job: Job, slot: int, error: str) -> None:
        stmt = (
            job_run.update()
            .where(job_run.c.job == job.name, job_run.c.slot == slot, job_run.c.owner == self.owner)
            .values(finished_ts=int(self.clock()), error=error)
        )
        try:
            async with self.store.transaction():
                await self.store.execute(stmt)
        except Exception:
            log.exception("scheduler: could not record the end of %s slot %d", job.name, slot)


async def _call(job: Job, app: web.Application) -> None:
    """Run ``job`` once, counted and timed in the metrics by its outcome."""
    start = time.perf_counter()
    outcome = "failed"
    try:
        result = job.fn(app)
        if inspect.isawaitable(result):
            await result
        outcome = "ok"
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        JOB_RUNS.labels(job.name, outcome).inc()
        JOB_SECONDS.labels(job.name).observe(time.perf_counter() - start)


async def prune(store: Any, before: int) -> None:
    """Forget runs of slots before ``before`` (the table would otherwise grow with every slot)."""
    async with store.transaction():
        await store.execute(job_run.delete().where(job_run.c.slot < before))
