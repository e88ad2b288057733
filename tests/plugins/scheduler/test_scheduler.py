"""The scheduler plugin: jobs run on their cron spec, each slot once across instances, failures
are contained, shutdown is bounded and ``@startup`` jobs run once per start."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from memos_scheduler import PRUNE_JOB, SCHEDULER, Settings, prune_history
from memos_scheduler.scheduler import Job, Scheduler, job_run, latest_slot, next_slot

import memos_core
from memos_core import CONTEXT, Config, hookimpl
from memos_core.app import create_app
from memos_core.plugins import load_plugins

EVERY_SECOND = "* * * * * *"


class JobsPlugin:
    """A throwaway plugin registering ``(name, spec, fn)`` jobs through ``memos_register_runners``."""

    def __init__(self, *jobs: tuple[str, str, Callable[..., Any]]) -> None:
        self.jobs = jobs

    @hookimpl
    def memos_register_runners(self, register) -> None:
        for job in self.jobs:
            register(*job)


def runs(data_dir: Path, job: str) -> list[dict[str, Any]]:
    """Rows of ``memos_py_job_run`` for ``job``, read straight from the SQLite file."""
    with sqlite3.connect(data_dir / "memos_prod.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM memos_py_job_run WHERE job = ? ORDER BY slot", (job,))
        return [dict(r) for r in rows]


async def store_runs(store, job: str) -> list[dict[str, Any]]:
    """The same rows, read through the app's store (any driver)."""
    async with store.connection():
        rows = await store.fetch_all(job_run.select().where(job_run.c.job == job).order_by(job_run.c.slot))
    return [dict(r._mapping) for r in rows]


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Counter:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, app) -> None:
        assert CONTEXT in app
        self.calls.append(time.time())


# -- one instance --------------------------------------------------------------------------------
tick = Counter()


@pytest.fixture
def memos_extra_plugins():
    tick.calls.clear()
    return [JobsPlugin(("test.tick", EVERY_SECOND, tick))]


async def test_every_second_job_runs_and_is_recorded(memos_client):
    holder = memos_client.app[SCHEDULER]
    store = memos_client.app[CONTEXT].store
    assert {"test.tick", PRUNE_JOB} <= {j.name for j in holder.scheduler.jobs}
    await wait_for(lambda: len(tick.calls) >= 2, timeout=4)
    deadline = time.monotonic() + 5
    while True:  # the second run records its end after its call returns
        rows = await store_runs(store, "test.tick")
        done = [r for r in rows if r["finished_ts"] is not None]
        if len(done) >= 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert len(done) >= 2
    assert all(r["owner"] == holder.scheduler.owner and r["error"] == "" for r in done)
    assert all(r["started_ts"] >= r["slot"] and r["finished_ts"] >= r["started_ts"] for r in done)
    assert len({r["slot"] for r in rows}) == len(rows)


async def test_two_instances_on_one_database_run_each_slot_once(aiohttp_client, tmp_path):
    counters = [Counter(), Counter()]
    apps = [
        create_app(Config(data=str(tmp_path)), extra_plugins=[JobsPlugin(("shared.tick", EVERY_SECOND, c))])
        for c in counters
    ]
    # One after the other: the core's Memos schema creation is not the subject here (the plugin
    # table race is covered in test_scheduler_plugin_tables.py); claiming races from the first slot.
    for app in apps:
        await aiohttp_client(app)
    owners = {app[SCHEDULER].scheduler.owner for app in apps}
    assert len(owners) == 2
    await asyncio.sleep(3.2)
    for app in apps:
        await app[SCHEDULER].scheduler.stop()

    rows = runs(tmp_path, "shared.tick")
    slots = [r["slot"] for r in rows]
    invocations = len(counters[0].calls) + len(counters[1].calls)
    assert len(rows) >= 3
    assert invocations == len(rows)  # nobody ran a slot that the other claimed
    assert slots == list(range(slots[0], slots[0] + len(slots)))  # and no slot was dropped
    assert {r["owner"] for r in rows} <= owners
    assert all(r["finished_ts"] is not None and r["error"] == "" for r in rows)


async def test_failing_job_is_logged_and_the_scheduler_keeps_going(aiohttp_client, tmp_path, caplog):
    good = Counter()
    failures: list[float] = []

    async def boom(app) -> None:
        failures.append(time.time())
        raise RuntimeError("boom")

    app = create_app(
        Config(data=str(tmp_path)),
        extra_plugins=[JobsPlugin(("test.boom", EVERY_SECOND, boom), ("test.good", EVERY_SECOND, good))],
    )
    with caplog.at_level(logging.ERROR, logger="memos_scheduler"):
        await aiohttp_client(app)
        await wait_for(lambda: len(failures) >= 2 and len(good.calls) >= 2, timeout=4)
        await app[SCHEDULER].scheduler.stop()
    failed = [r for r in runs(tmp_path, "test.boom") if r["finished_ts"] is not None]
    assert len(failed) >= 2 and all(r["error"] == "RuntimeError: boom" for r in failed)
    assert any("test.boom failed" in r.getMessage() and r.exc_info for r in caplog.records)
    assert all(r["error"] == "" for r in runs(tmp_path, "test.good"))


async def test_shutdown_cancels_a_long_job_after_the_timeout(aiohttp_client, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMOS_SCHEDULER_SHUTDOWN_TIMEOUT", "0.2")
    started = asyncio.Event()
    outcome: list[str] = []

    async def long_job(app) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    app = create_app(Config(data=str(tmp_path)), extra_plugins=[JobsPlugin(("test.long", EVERY_SECOND, long_job))])
    client = await aiohttp_client(app)
    await asyncio.wait_for(started.wait(), 3)
    began = time.monotonic()
    await client.close()  # runs the app's cleanup contexts
    assert time.monotonic() - began < 3
    assert outcome == ["cancelled"]
    (row,) = runs(tmp_path, "test.long")  # the job was still running: no second slot started
    assert row["error"].startswith("cancelled") and row["finished_ts"] is not None


async def test_shutdown_waits_for_a_job_that_finishes_in_time(aiohttp_client, tmp_path):
    finished: list[bool] = []

    async def short_job(app) -> None:
        await asyncio.sleep(0.3)
        finished.append(True)

    app = create_app(Config(data=str(tmp_path)), extra_plugins=[JobsPlugin(("test.short", "@startup", short_job))])
    client = await aiohttp_client(app)
    assert "test.short" in app[SCHEDULER].scheduler.running
    await client.close()
    assert finished == [True]


async def test_startup_job_runs_once_per_start(aiohttp_client, tmp_path):
    counter = Counter()
    for start in (1, 2):
        app = create_app(Config(data=str(tmp_path)), extra_plugins=[JobsPlugin(("test.boot", "@startup", counter))])
        client = await aiohttp_client(app)
        await wait_for(lambda n=start: len(counter.calls) == n)
        await asyncio.sleep(1.1)  # a cron tick passes: still once
        assert len(counter.calls) == start
        await client.close()
    assert runs(tmp_path, "test.boot") == []  # start-up runs are per process, not claimed slots


async def test_disabled_scheduler_runs_nothing(aiohttp_client, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMOS_SCHEDULER_DISABLED", "1")
    counter = Counter()
    app = create_app(
        Config(data=str(tmp_path)),
        extra_plugins=[JobsPlugin(("test.boot", "@startup", counter), ("test.tick", EVERY_SECOND, counter))],
    )
    client = await aiohttp_client(app)
    assert SCHEDULER not in app
    await asyncio.sleep(1.2)
    assert counter.calls == []
    assert (await client.get("/healthz")).status == 200


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([("bad.spec", "every minute", Counter())], "invalid cron spec"),
        ([("bad.fields", "* * * *", Counter())], "invalid cron spec"),
        ([("same", EVERY_SECOND, Counter()), ("same", "@startup", Counter())], "two scheduled jobs"),
        ([("", EVERY_SECOND, Counter())], "job name"),
        ([("no.fn", EVERY_SECOND, None)], "not callable"),
    ],
)
async def test_bad_registrations_stop_start_up(tmp_path, jobs, message):
    runner = web.AppRunner(create_app(Config(data=str(tmp_path)), extra_plugins=[JobsPlugin(*jobs)]))
    try:
        with pytest.raises(ValueError, match=message):
            await runner.setup()  # runs the start-up half of the cleanup contexts
    finally:
        await runner.cleanup()


async def test_prune_job_forgets_old_runs(memos_client):
    store = memos_client.app[CONTEXT].store
    now = int(time.time())
    async with store.connection():
        for slot in (now - 25 * 3600, now - 3600):
            await store.execute(
                job_run.insert().values(job="old", slot=slot, owner="x", started_ts=slot, finished_ts=slot, error="")
            )
        await prune_history(memos_client.app)
    assert [r["slot"] for r in await store_runs(store, "old")] == [now - 3600]


def test_settings_from_env():
    assert Settings.from_env({}) == Settings(disabled=False, shutdown_timeout=10.0, keep_hours=24.0)
    s = Settings.from_env(
        {
            "MEMOS_SCHEDULER_DISABLED": "true",
            "MEMOS_SCHEDULER_SHUTDOWN_TIMEOUT": "2.5",
            "MEMOS_SCHEDULER_KEEP_HOURS": "1",
        }
    )
    assert s == Settings(disabled=True, shutdown_timeout=2.5, keep_hours=1.0)


def test_plugin_loads_through_its_entry_point(tmp_path):
    plugins = load_plugins(memos_core.Config(data=str(tmp_path)))
    info = next(i for i in plugins.infos if i.name == "scheduler")
    assert info.distribution == "memos-scheduler"
    assert set(info.hooks) == {"memos_cleanup_ctx", "memos_register_runners"}


# -- planning, on a fake clock -------------------------------------------------------------------
def test_slot_arithmetic():
    assert latest_slot(EVERY_SECOND, 1000.0) == 1000
    assert latest_slot(EVERY_SECOND, 1000.9) == 1000
    assert next_slot(EVERY_SECOND, 1000.0) == 1001
    assert next_slot(EVERY_SECOND, 1000.5) == 1001
    assert latest_slot("* * * * * */10", 1009.0) == 1000
    assert next_slot("*/5 * * * *", 0) == 300  # five fields: minutes, in UTC
    assert latest_slot("0 3 * * *", 86400 + 4 * 3600) == 86400 + 3 * 3600


class _Stop(Exception):
    pass


async def test_missed_slots_are_not_replayed():
    """After a pause (process suspended, event loop blocked) only the latest due slot runs."""
    now = [1000.5]
    launched: list[tuple[str, int]] = []
    sleeps: list[float] = []

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 1:
            now[0] += 0.5  # wakes on time for slot 1001
        elif len(sleeps) == 2:
            now[0] += 10.2  # suspended for ten seconds: slots 1002..1011 pass
        else:
            raise _Stop

    class Recording(Scheduler):
        def launch(self, job: Job, slot: int):
            launched.append((job.name, slot))

    async def noop(app) -> None:
        pass

    jobs = [Job("fast", EVERY_SECOND, noop), Job("slow", "* * * * * */5", noop), Job("boot", "@startup", noop)]
    sched = Recording(None, None, jobs, clock=lambda: now[0], sleep=fake_sleep)
    with pytest.raises(_Stop):
        await sched._loop()
    assert sleeps[0] == pytest.approx(0.5)
    assert launched == [("fast", 1001), ("fast", 1011), ("slow", 1010)]


async def test_clock_going_back_replans():
    """A wall clock set back an hour does not leave the scheduler waiting an hour."""
    base = 100_000
    now = [float(base)]
    launched: list[int] = []

    async def fake_sleep(delay: float) -> None:
        if len(launched) >= 3:
            raise _Stop
        if len(launched) == 1 and now[0] > base:
            now[0] -= 3600
        else:
            now[0] += delay

    class Recording(Scheduler):
        def launch(self, job: Job, slot: int):
            launched.append(slot)

    async def noop(app) -> None:
        pass

    sched = Recording(None, None, [Job("fast", EVERY_SECOND, noop)], clock=lambda: now[0], sleep=fake_sleep)
    with pytest.raises(_Stop):
        await sched._loop()
    assert launched == [base + 1, base + 1 - 3600 + 1, base + 1 - 3600 + 2]


async def test_a_run_still_going_skips_its_next_slot_here(memos_client):
    """Runs of one job do not pile up in a process; other jobs are not held up by a slow one."""
    scheduler = memos_client.app[SCHEDULER].scheduler
    gate = asyncio.Event()

    async def slow(app) -> None:
        await gate.wait()

    job = Job("test.slow", EVERY_SECOND, slow)
    first = scheduler.launch(job, 1)
    assert first is not None
    await asyncio.sleep(0.05)
    assert scheduler.launch(job, 2) is None
    assert "test.slow" in scheduler.running
    other = scheduler.launch(Job("test.other", EVERY_SECOND, Counter()), 2)
    await asyncio.wait_for(other, 2)
    gate.set()
    await asyncio.wait_for(first, 2)
    assert "test.slow" not in scheduler.running
