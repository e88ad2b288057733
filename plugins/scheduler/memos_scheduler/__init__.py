"""memos-scheduler: runs the background jobs that plugins register, once across app instances.

A plugin provides jobs through the ``memos_register_runners`` hook::

    @hookimpl
    def memos_register_runners(register):
        register("webhook.retry", "*/5 * * * *", retry_webhooks)  # await retry_webhooks(app)

Cron specs use croniter syntax in UTC: 5 fields, or 6 with *seconds last*
(``"* * * * * */10"`` = every ten seconds), or keywords such as ``@hourly``. The special spec
``"@startup"`` runs the job once when each process starts (not claimed, so every instance runs it).

Settings (environment, read when the app is built):

* ``MEMOS_SCHEDULER_DISABLED=1``: do not run jobs in this process (other instances still do).
* ``MEMOS_SCHEDULER_SHUTDOWN_TIMEOUT`` (seconds, default 10): how long shutdown waits for running
  jobs before cancelling them.
* ``MEMOS_SCHEDULER_KEEP_HOURS`` (default 24): how long the run history is kept.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from memos_core import CONTEXT, hookimpl

from .scheduler import STARTUP, Job, Scheduler, job_run, make_job, prune

__version__ = "0.1.0"
__all__ = ["SCHEDULER", "STARTUP", "Job", "Scheduler", "SchedulerHolder", "Settings", "job_run"]

log = logging.getLogger("memos_scheduler")

PRUNE_JOB = "scheduler.prune"


@dataclasses.dataclass(frozen=True)
class Settings:
    disabled: bool = False
    shutdown_timeout: float = 10.0
    keep_hours: float = 24.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        get = lambda name, default: env.get(f"MEMOS_SCHEDULER_{name}", "").strip() or default  # noqa: E731
        return cls(
            disabled=get("DISABLED", "0").lower() in ("1", "true", "yes", "on"),
            shutdown_timeout=float(get("SHUTDOWN_TIMEOUT", "10")),
            keep_hours=float(get("KEEP_HOURS", "24")),
        )


@dataclasses.dataclass
class SchedulerHolder:
    """Set on the app before it starts (app state is frozen afterwards); filled in at start-up."""

    settings: Settings
    scheduler: Scheduler | None = None


SCHEDULER = web.AppKey("memos_scheduler", SchedulerHolder)


async def collect_jobs(app: web.Application) -> list[Job]:
    """Every registered job, from the core's runners registry (collected once at start-up, which
    refuses a name registered twice, naming both distributions); a bad cron spec or a job that is
    not callable stops start-up (it is a programming error)."""
    ctx = app[CONTEXT]
    await ctx.collect_registries()  # done by the core first thing at start-up; a no-op then
    return [make_job(name, *registration.args) for name, registration in ctx.runners.items()]


@hookimpl(trylast=True)
def memos_cleanup_ctx(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]] | None:
    """Start after, and stop before, every other plugin's resources (jobs may use them)."""
    settings = Settings.from_env()
    if settings.disabled:
        log.info("scheduler disabled in this process (MEMOS_SCHEDULER_DISABLED)")
        return None
    holder = app[SCHEDULER] = SchedulerHolder(settings)

    async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
        if not app[CONTEXT].serving:  # a command, not a server: the servers run the jobs
            yield
            return
        scheduler = Scheduler(
            app, app[CONTEXT].store, await collect_jobs(app), shutdown_timeout=settings.shutdown_timeout
        )
        await scheduler.start()
        holder.scheduler = scheduler
        try:
            yield
        finally:
            await scheduler.stop()

    return scheduler_ctx


@hookimpl
def memos_register_runners(register: Callable[..., None]) -> None:
    register(PRUNE_JOB, "17 * * * *", prune_history)


async def prune_history(app: web.Application) -> None:
    """Hourly: drop run records older than ``MEMOS_SCHEDULER_KEEP_HOURS``."""
    holder = app.get(SCHEDULER)
    keep_hours = holder.settings.keep_hours if holder else Settings().keep_hours
    await prune(app[CONTEXT].store, int(time.time() - keep_hours * 3600))
