"""Prometheus metrics: the registry behind ``GET /metrics`` and the public API plugins use to add theirs.

This module is a leaf (it imports nothing from memos_core), so the store and every plugin can import it.
The endpoint itself, its access rule and the request middleware feeding :data:`HTTP_REQUESTS` live
in :mod:`memos_core.observe`.

Plugins count things with :func:`counter` and time them with :func:`histogram` (process-wide, created
once, get-or-create by name), and report a value read when ``/metrics`` is scraped with
:func:`gauge_at_scrape` (per app: a queue length, a row count)::

    from memos_core import metrics

    RUNS = metrics.counter("myplugin_runs_total", "Runs of my job.", ["result"])
    RUNS.labels("ok").inc()

    @hookimpl
    def memos_cleanup_ctx(app):
        metrics.gauge_at_scrape(app, "myplugin_backlog", "Items waiting.", lambda: len(BACKLOG))

Several worker processes: each process counts on its own. With ``PROMETHEUS_MULTIPROC_DIR`` set (an
empty directory, the same for every worker, wiped before each start) before the processes start,
counters and histograms are summed across the workers at every scrape (prometheus-client's
multiprocess mode); values read at scrape time come from the process that answers.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

#: Seconds; HTTP handlers (a few ms on a warm cache up to slow uploads).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds; single SQL statements (tens of microseconds on SQLite to seconds on a locked table).
SQL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)

_lock = threading.Lock()
_metrics: dict[str, Any] = {}


def _get_or_create(kind: type, name: str, documentation: str, labelnames: Sequence[str], **kwargs: Any) -> Any:
    """One metric object per name in this process, however often plugins ask for it (an app is built
    many times in tests, and prometheus-client refuses a second registration of a name)."""
    with _lock:
        existing = _metrics.get(name)
        if existing is None:
            existing = _metrics[name] = kind(name, documentation, tuple(labelnames), **kwargs)
        elif not isinstance(existing, kind) or tuple(existing._labelnames) != tuple(labelnames):
            raise ValueError(f"metric {name!r} already exists with another type or other labels")
        return existing


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    """A process-wide counter (``name`` should end in ``_total``); the same object on every call."""
    return _get_or_create(Counter, name, documentation, labelnames)


def histogram(
    name: str, documentation: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
) -> Histogram:
    """A process-wide histogram (seconds, by convention ``..._seconds``); the same object on every call."""
    return _get_or_create(Histogram, name, documentation, labelnames, buckets=tuple(buckets))


Reader = Callable[[], float | int | Awaitable[float | int]]
_SCRAPED = web.AppKey("memos_metrics_scraped", list)


def gauge_at_scrape(app: web.Application, name: str, documentation: str, read: Reader) -> None:
    """Report ``read()`` (a number, or an awaitable of one) as the gauge ``name`` whenever ``app``'s
    ``/metrics`` is scraped. Register while the app is built (``memos_cleanup_ctx``,
    ``memos_register_routes``): app state is frozen once it starts. A reader that fails leaves its
    gauge out of that scrape (and is logged) instead of failing the whole page."""
    readers = app.get(_SCRAPED)
    if readers is None:
        readers = app[_SCRAPED] = []
    if any(existing == name for existing, _doc, _read in readers):
        raise ValueError(f"gauge {name!r} is already registered on this app")
    readers.append((name, documentation, read))


async def read_scrape_gauges(app: web.Application) -> list[Metric]:
    """The gauges registered with :func:`gauge_at_scrape` on ``app``, read now."""
    families: list[Metric] = []
    for name, documentation, read in app.get(_SCRAPED, ()):
        try:
            value = read()
            if inspect.isawaitable(value):
                value = await value
            families.append(GaugeMetricFamily(name, documentation, value=float(value)))
        except Exception:
            log.exception("metrics: reading %s failed; left out of this scrape", name)
    return families


def registry() -> Any:
    """What a scrape renders: the process registry, or every worker's files in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return combined
    return REGISTRY


class Families:
    """A collector serving metric families computed beforehand (values read at scrape time)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


# -- the core's own metrics -------------------------------------------------------------------------
HTTP_REQUESTS = counter(
    "memos_http_requests_total",
    "HTTP requests answered, by method, route (its name or path template) and status code.",
    ("method", "route", "status"),
)
HTTP_SECONDS = histogram(
    "memos_http_request_duration_seconds",
    "Time from the request reaching the application to the handler's answer, by method and route.",
    ("method", "route"),
)
SQL_SECONDS = histogram(
    "memos_sql_statement_duration_seconds",
    "Time of each SQL statement the store ran (the _count is the number of statements).",
    buckets=SQL_BUCKETS,
)

__all__ = ["LATENCY_BUCKETS", "SQL_BUCKETS", "Families", "counter", "gauge_at_scrape", "histogram"]
