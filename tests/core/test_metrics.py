"""Operations: ``GET /metrics`` (Prometheus text, who may read it), request ids and the access log.

Counters are process-wide and tests of several drivers share the process, so assertions compare a
scrape before with a scrape after, or use labels (job names, paths) no other test uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from fixtures.processes import memos_env, serve
from prometheus_client.parser import text_string_to_metric_families

from memos_core import CONTEXT, hookimpl
from memos_core.app import create_app
from memos_core.cli import main
from memos_core.config import Config
from memos_core.observe import AccessLogger, JsonFormatter

EVERY_SECOND = "* * * * * *"
TOKEN = "metrics-secret-0123456789"
HEX_ID = re.compile(r"[0-9a-f]{32}")

app_log = logging.getLogger("tests.metrics")


class OpsPlugin:
    """A templated route without a name (it logs while handling), and two jobs: one fails."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.ok_job, self.failing_job = f"test.metrics.ok.{tag}", f"test.metrics.fail.{tag}"

    @hookimpl
    def memos_register_routes(self, app: web.Application) -> None:
        async def item(request: web.Request) -> web.Response:
            app_log.warning("looking at %s", request.match_info["item"])
            return web.json_response({"item": request.match_info["item"]})

        app.router.add_get("/test-metrics/{item}", item)

    @hookimpl
    def memos_register_runners(self, register) -> None:
        async def ok(app):
            pass

        async def fail(app):
            raise RuntimeError("this job fails on purpose")

        register(self.ok_job, EVERY_SECOND, ok)
        register(self.failing_job, EVERY_SECOND, fail)


@pytest.fixture
def ops() -> OpsPlugin:
    return OpsPlugin()


@pytest.fixture
def memos_extra_plugins(ops):
    return [ops]


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, sorted labels); the parser raises on a malformed page."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def scrape(client, **headers: str) -> dict:
    r = await client.get("/metrics", headers=headers)
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    return parse(await r.text())


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def labels_of(samples: dict, name: str, label: str) -> set[str]:
    return {dict(lbl)[label] for (n, lbl) in samples if n == name and label in dict(lbl)}


async def create_memo(client, user, content: str = "hello #metrics") -> dict:
    r = await client.post("/api/v1/memos", json={"content": content, "visibility": "PUBLIC"}, headers=user.headers)
    assert r.status == 200, await r.text()
    return await r.json()


# -- the page and its counters -------------------------------------------------------------------------
async def test_requests_are_counted_and_timed_by_route_template(memos_client, memos_users):
    alice = await memos_users("alice")
    memo = await create_memo(memos_client, alice)
    uid = memo["name"].removeprefix("memos/")
    before = await scrape(memos_client)

    assert (await memos_client.get(f"/api/v1/{memo['name']}", headers=alice.headers)).status == 200
    assert (await memos_client.get("/api/v1/memos/no-such-memo", headers=alice.headers)).status == 404
    assert (await memos_client.get("/test-metrics/apple-7")).status == 200
    assert (await memos_client.get("/test-metrics/pear-8")).status == 200
    assert (await memos_client.get(f"/nowhere/{uid}")).status == 404
    after = await scrape(memos_client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "memos_http_requests_total"
    assert moved(requests, method="GET", route="MemoService.GetMemo", status="200") == 1
    assert moved(requests, method="GET", route="MemoService.GetMemo", status="404") == 1
    assert moved(requests, method="GET", route="/test-metrics/{item}", status="200") == 2  # unnamed: template
    assert moved(requests, method="GET", route="unmatched", status="404") == 1
    assert moved(requests, method="GET", route="metrics", status="200") == 1  # the first scrape
    timed = "memos_http_request_duration_seconds_count"
    assert moved(timed, method="GET", route="MemoService.GetMemo") == 2
    assert moved(timed, method="GET", route="/test-metrics/{item}") == 2
    assert moved("memos_http_request_duration_seconds_sum", method="GET", route="MemoService.GetMemo") > 0
    # Never a raw path or an id in a label: the set stays bounded however many memos are read.
    routes = labels_of(after, requests, "route")
    assert not any(uid in r or "apple" in r or "pear" in r or "nowhere" in r for r in routes), routes
    # The store's statements: at least the reads of GetMemo, each timed.
    assert moved("memos_sql_statement_duration_seconds_count") >= 2
    assert moved("memos_sql_statement_duration_seconds_sum") > 0
    assert moved("memos_sql_statement_duration_seconds_bucket", le="+Inf") == moved(
        "memos_sql_statement_duration_seconds_count"
    )


async def test_pool_and_queue_gauges(memos_client, memos_config):
    samples = await scrape(memos_client)
    pool = labels_of(samples, "memos_db_pool_connections", "state")
    if memos_config.driver == "sqlite":  # connections open on demand: no fixed pool to report
        assert pool == set() and ("memos_db_pool_max_connections", ()) not in samples
    else:
        assert pool == {"idle", "in_use"}
        assert value(samples, "memos_db_pool_max_connections") >= 1
        size = value(samples, "memos_db_pool_connections", state="idle") + value(
            samples, "memos_db_pool_connections", state="in_use"
        )
        assert 1 <= size <= value(samples, "memos_db_pool_max_connections")
    assert value(samples, "memos_webhook_queue_depth") == 0
    assert ("memos_webhook_queue_depth", ()) in samples


async def test_email_outbox_depth_counts_pending_mails_of_every_instance(memos_client, memos_config):
    from memos_email import compose, outbox

    assert value(await scrape(memos_client), "memos_email_outbox_pending") == 0
    store = memos_client.app[CONTEXT].store
    mail = compose.Mail(subject="s", text="t", html="<p>t</p>")
    async with store.connection():
        for n in range(3):
            now_ms = int(time.time() * 1000)  # not stale: the worker leaves it (email is off)
            await outbox.add(store, kind="comment", recipient=f"r{n}@example.com", mail=mail, now_ms=now_ms)
    assert value(await scrape(memos_client), "memos_email_outbox_pending") == 3
    # Another instance on the same database sees the same outbox.
    other = TestServer(create_app(memos_config))
    async with aiohttp.ClientSession() as session:
        await other.start_server()
        try:
            async with session.get(str(other.make_url("/metrics"))) as r:
                assert value(parse(await r.text()), "memos_email_outbox_pending") == 3
        finally:
            await other.close()


async def test_job_runs_and_failures(memos_client, ops, caplog):
    deadline = time.monotonic() + 8
    with caplog.at_level(logging.CRITICAL, logger="memos_scheduler"):  # the failing job's traceback
        while True:
            samples = await scrape(memos_client)
            ok = value(samples, "memos_job_runs_total", job=ops.ok_job, result="ok")
            failed = value(samples, "memos_job_runs_total", job=ops.failing_job, result="failed")
            if ok >= 1 and failed >= 1:
                break
            assert time.monotonic() < deadline, "the jobs did not run in time"
            await asyncio.sleep(0.1)
    assert value(samples, "memos_job_runs_total", job=ops.ok_job, result="failed") == 0
    assert value(samples, "memos_job_runs_total", job=ops.failing_job, result="ok") == 0
    assert value(samples, "memos_job_duration_seconds_count", job=ops.ok_job) >= ok


# -- who may read it -------------------------------------------------------------------------------------
async def test_loopback_rule_refuses_what_a_proxy_relays(memos_client):
    unknown = await memos_client.get("/no-such-page")
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        r = await memos_client.get("/metrics", headers={header: "127.0.0.1"})
        assert r.status == 404, header
        assert await r.json() == await unknown.json() == {"code": 5, "message": "Not Found", "details": []}
    assert (await memos_client.get("/metrics")).status == 200


@contextlib.asynccontextmanager
async def started(app: web.Application, site_factory) -> AsyncIterator[None]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await site_factory(runner).start()
        yield
    finally:
        await runner.cleanup()


def non_loopback_address() -> str | None:
    """An address of this host on a real interface (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("peer", ["unix socket", "network address"])
async def test_loopback_rule_refuses_other_peers_and_a_token_admits_them(memos_config, tmp_path, peer):
    if peer == "unix socket":
        path = str(tmp_path / "memos.sock")
        site = lambda runner: web.UnixSite(runner, path)  # noqa: E731
        connector, base = aiohttp.UnixConnector(path=path), "http://memos"
    else:
        address = non_loopback_address()
        if address is None:
            pytest.skip("this host has no non-loopback address")
        with socket.socket() as s:
            s.bind((address, 0))
            port = s.getsockname()[1]
        site = lambda runner: web.TCPSite(runner, address, port)  # noqa: E731
        connector, base = aiohttp.TCPConnector(), f"http://{address}:{port}"
    async with aiohttp.ClientSession(connector=connector) as session:
        async with started(create_app(memos_config), site):
            async with session.get(f"{base}/metrics") as r:
                assert r.status == 404
            async with session.get(f"{base}/healthz") as r:
                assert r.status == 200  # the server does answer this peer
        tokened = dataclasses.replace(memos_config, metrics=f"token:{TOKEN}")
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        async with started(create_app(tokened), site), session.get(f"{base}/metrics", headers=bearer) as r:
            assert r.status == 200
            parse(await r.text())


async def test_token_rule(aiohttp_client, memos_client, memos_config):
    client = await aiohttp_client(create_app(dataclasses.replace(memos_config, metrics=f"token:{TOKEN}")))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        r = await client.get("/metrics", headers=headers)
        assert r.status == 401, headers
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await r.json())["code"] == 16
    await scrape(client, Authorization=f"Bearer {TOKEN}")
    await scrape(client, Authorization=f"bearer {TOKEN}")


async def test_off_rule_has_no_route(aiohttp_client, memos_client, memos_config):
    client = await aiohttp_client(create_app(dataclasses.replace(memos_config, metrics="off")))
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status == 404
    assert await r.json() == {"code": 5, "message": "Not Found", "details": []}
    assert HEX_ID.fullmatch(r.headers["X-Request-Id"])  # request ids stay


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "loopback"), ("loopback", "loopback"), (" off ", "off"), (f"token:{TOKEN}", f"token:{TOKEN}")],
)
def test_metrics_setting(value, expected):
    config = Config.from_env({"MEMOS_METRICS": value})
    assert config.metrics == expected
    assert TOKEN not in repr(config)


@pytest.mark.parametrize("bad", ["on", "token:", "token:short", f"token:{TOKEN} x", "Bearer " + TOKEN])
def test_a_bad_metrics_setting_stops_the_server_from_starting(bad, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MEMOS_METRICS", bad)
    assert main(["serve", "--data", str(tmp_path)]) == 1
    assert "MEMOS_METRICS: expected loopback, off or token:" in capsys.readouterr().err
    with pytest.raises(ValueError, match="MEMOS_METRICS"):
        create_app(Config(data=str(tmp_path), metrics=bad))


def test_a_bad_log_format_stops_the_server_from_starting(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MEMOS_LOG_FORMAT", "xml")
    assert main(["serve", "--data", str(tmp_path)]) == 1
    assert "MEMOS_LOG_FORMAT: expected text or json" in capsys.readouterr().err


# -- request ids ---------------------------------------------------------------------------------------
async def test_request_ids_are_echoed_when_sane_and_made_otherwise(memos_client, memos_users):
    alice = await memos_users("alice")
    for sane in ("abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "Root=1-5759e988:bd862e3f.x_y+z/w"):
        r = await memos_client.get("/api/v1/memos", headers={**alice.headers, "X-Request-Id": sane})
        assert r.status == 200 and r.headers["X-Request-Id"] == sane
    made = set()
    for insane in (None, "", "has space", 'quo"te', "x" * 129, "é", "a\tb"):
        headers = {} if insane is None else {"X-Request-Id": insane}
        r = await memos_client.get("/api/v1/memos", headers={**alice.headers, **headers})
        assert r.status == 200 and HEX_ID.fullmatch(r.headers["X-Request-Id"]), (insane, r.headers["X-Request-Id"])
        made.add(r.headers["X-Request-Id"])
    assert len(made) == 7  # a new one each time
    # Errors carry it too: the router's 404, the API's 401, the metrics page.
    for method, path in (("GET", "/nowhere"), ("GET", "/api/v1/auth/me"), ("GET", "/metrics")):
        r = await memos_client.request(method, path, headers={"X-Request-Id": "err-1"})
        assert r.headers["X-Request-Id"] == "err-1", path


# -- the access log ----------------------------------------------------------------------------------------
async def test_access_log_lines(aiohttp_client, memos_client, memos_config, memos_users, ops, caplog):
    alice = await memos_users("alice")
    memo = await create_memo(memos_client, alice)
    server = TestServer(create_app(memos_config, extra_plugins=[ops]))
    await server.start_server(access_log_class=AccessLogger)  # as memos serve runs it
    client = await aiohttp_client(server)
    # As memos serve logs with MEMOS_LOG_FORMAT=json: records are formatted as they are emitted.
    buffer = io.StringIO()
    json_handler = logging.StreamHandler(buffer)
    json_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(json_handler)
    try:
        with caplog.at_level(logging.INFO):
            r = await client.get(f"/api/v1/{memo['name']}", headers={**alice.headers, "X-Request-Id": "req-42"})
            assert r.status == 200
            r = await client.get("/test-metrics/fig-1?token=hush", headers={"User-Agent": "t/1"})
            made = r.headers["X-Request-Id"]
    finally:
        logging.getLogger().removeHandler(json_handler)
    access = [rec for rec in caplog.records if rec.name == "aiohttp.access"]
    assert len(access) == 2
    first, second = (rec.getMessage() for rec in access)
    assert re.fullmatch(
        rf'127\.0\.0\.1 "GET /api/v1/{memo["name"]} HTTP/1\.1" 200 \d+ "-" "[^"]+" '
        r"route=MemoService\.GetMemo duration_ms=\d+\.\d\d request_id=req-42",
        first,
    ), first
    assert re.search(rf" route=/test-metrics/{{item}} duration_ms=\d+\.\d\d request_id={made}$", second), second
    assert "hush" not in second and "token=***" in second

    # JSON lines: every record, the access ones with their fields, the handler's own with its request id.
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    get_memo, fig = (line for line in lines if line["logger"] == "aiohttp.access")
    assert get_memo["method"] == "GET" and get_memo["route"] == "MemoService.GetMemo"
    assert get_memo["status"] == 200 and get_memo["request_id"] == "req-42"
    assert isinstance(get_memo["duration_ms"], float) and get_memo["duration_ms"] >= 0
    assert get_memo["client"] == "127.0.0.1" and get_memo["path"] == f"/api/v1/{memo['name']}"
    assert fig["route"] == "/test-metrics/{item}" and fig["request_id"] == made and fig["user_agent"] == "t/1"
    (handler_line,) = (line for line in lines if line["logger"] == "tests.metrics")
    assert handler_line == {
        "time": handler_line["time"],
        "level": "WARNING",
        "logger": "tests.metrics",
        "message": "looking at fig-1",
        "request_id": made,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", handler_line["time"])


async def test_memos_serve_writes_json_lines(memos_config, tmp_path: Path):
    """End to end: ``MEMOS_LOG_FORMAT=json`` makes every log line of ``memos serve`` one JSON object."""
    env = memos_env(
        tmp_path,
        MEMOS_DRIVER=memos_config.driver,
        MEMOS_DSN=memos_config.dsn,
        MEMOS_DATA=memos_config.data,
        MEMOS_LOG_FORMAT="json",
        MEMOS_SCHEDULER_DISABLED="1",
    )
    with serve(tmp_path, env) as served:
        assert served.request("GET", "/api/v1/memos?pageSize=2", headers={"X-Request-Id": "e2e-7"}).status == 200
        metrics = served.request("GET", "/metrics")
        assert metrics.status == 200 and parse(metrics.body.decode())
        deadline = time.monotonic() + 5
        while "e2e-7" not in served.output():
            assert time.monotonic() < deadline, served.output()
            await asyncio.sleep(0.05)
    records = [json.loads(line) for line in served.output().splitlines() if line and not line.startswith("memos-py ")]
    assert records, served.output()
    (access,) = (r for r in records if r.get("request_id") == "e2e-7")
    assert access["logger"] == "aiohttp.access" and access["level"] == "INFO"
    assert access["route"] == "MemoService.ListMemos" and access["status"] == 200 and access["method"] == "GET"
    assert access["duration_ms"] >= 0
