"""Web UI pages beside the REST call that lists the same 16 memos, and the weight of a page.

Seeds the data set of ``bench_list_memos.py`` (5,000 memos by default), serves it with ``memos
serve`` in a subprocess and measures, from a separate load process, requests/s and the server's
CPU milliseconds per request for:

* ``GET /home`` signed in with the session cookie (16 memos, sidebar, editor),
* ``GET /explore`` anonymous (16 public memos),
* ``GET /api/v1/memos?pageSize=16`` signed in with a personal access token (the same memos as JSON).

Then it reports the page weight of ``/home``: the HTML and every stylesheet and script it loads,
gzip-compressed as served (images are not counted), and SQL statements per page from the
in-process count for 4 and for 16 memos on the page.

    .venv/bin/python benchmarks/bench_web.py [--memos 5000] [--seconds 5] [--concurrency 16]
        [--driver postgres --dsn postgresql://...]   (an empty database on that server)
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
from _common import free_port, load, measure, seed, wait_ready
from aiohttp.test_utils import TestClient, TestServer

from memos_core.app import create_app
from memos_core.config import Config
from memos_core.context import CONTEXT


async def session_cookie(base: str) -> str:
    """Sign in as the seeded user and return the ``memos_refresh`` cookie header value."""
    async with aiohttp.ClientSession() as s:
        body = {"passwordCredentials": {"username": "bench", "password": "bench-password"}}
        async with s.post(f"{base}/api/v1/auth/signin", json=body) as r:
            assert r.status == 200, await r.text()
            return f"memos_refresh={r.cookies['memos_refresh'].value}"


async def page_weight(base: str, cookie: str) -> dict[str, int]:
    """Bytes on the wire (gzip) of /home and every stylesheet and script it references."""
    out: dict[str, int] = {}
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        headers = {"Cookie": cookie, "Accept-Encoding": "gzip"}
        async with s.get(f"{base}/home", headers=headers) as r:
            raw = await r.read()
            out["/home (HTML)"] = len(raw)
            html = gzip.decompress(raw).decode() if r.headers.get("Content-Encoding") == "gzip" else raw.decode()
        assets = re.findall(r'(?:href|src)="(/static/web/[^"]+\.(?:css|js))"', html)
        pending = list(dict.fromkeys(assets))
        seen: set[str] = set()
        while pending:
            path = pending.pop()
            if path in seen:
                continue
            seen.add(path)
            async with s.get(base + path, headers=headers) as r:
                raw = await r.read()
                out[path] = len(raw)
                text = gzip.decompress(raw).decode() if r.headers.get("Content-Encoding") == "gzip" else raw.decode()
            folder = path.rsplit("/", 1)[0]
            for module in re.findall(r'(?:import|from)\s*"\./([^"]+\.js)"', text):
                pending.append(f"{folder}/{module}")
    return out


async def statements(config: Config) -> dict[str, int]:
    """Statements per page for a page of 4 and of 16 memos (the same count means no per-memo query)."""
    app = create_app(config)
    out = {}
    async with TestClient(TestServer(app)) as client:
        store = client.app[CONTEXT].store
        body = {"passwordCredentials": {"username": "bench", "password": "bench-password"}}
        r = await client.post("/api/v1/auth/signin", json=body)
        assert r.status == 200
        for label, path in (
            ("/home (16 memos)", "/home"),
            ("/home?tag=topic1 (16 memos)", "/home?tag=topic1"),
            ("/explore anonymous (16 memos)", "/explore"),
        ):
            if "anonymous" in label:
                client.session.cookie_jar.clear()
            before = store.statements
            r = await client.get(path)
            assert r.status == 200, await r.text()
            out[label] = store.statements - before
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--memos", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--driver", default="sqlite")
    p.add_argument("--dsn", default="")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        config = Config.from_env(data=str(data), driver=args.driver, dsn=args.dsn)
        pat, _ = asyncio.run(seed(config, args.memos))
        stmts = asyncio.run(statements(config))
        port = free_port()
        env = {
            **os.environ,
            "MEMOS_DATA": str(data),
            "MEMOS_PORT": str(port),
            "MEMOS_ADDR": "127.0.0.1",
            "MEMOS_DRIVER": args.driver,
            "MEMOS_DSN": args.dsn,
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "memos_core.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        results = {}
        try:
            asyncio.run(wait_ready(base + "/healthz"))
            cookie = asyncio.run(session_cookie(base))
            weight = asyncio.run(page_weight(base, cookie))
            scenarios = {
                "GET /home (signed in, 16 memos)": (f"{base}/home", {"Cookie": cookie, "Accept-Encoding": "gzip"}),
                "GET /explore (anonymous, 16 memos)": (f"{base}/explore", {"Accept-Encoding": "gzip"}),
                "GET /api/v1/memos?pageSize=16 (PAT)": (
                    f"{base}/api/v1/memos?pageSize=16",
                    {"Authorization": f"Bearer {pat}", "Accept-Encoding": "gzip"},
                ),
            }
            for label, (url, headers) in scenarios.items():
                asyncio.run(load(url, headers, 1.0, args.concurrency))  # warm-up
                results[label] = measure(server.pid, url, headers, args.seconds, args.concurrency)
        finally:
            server.terminate()
            server.wait(10)

    print(f"\nWeb pages on {args.driver}, {args.memos} memos, {args.concurrency} clients, {args.seconds:.0f}s each")
    for label, (rps, errors, cpu_ms) in results.items():
        cpu = f"  {cpu_ms:6.2f} ms server CPU/request" if cpu_ms is not None else ""
        print(f"  {label:40} {rps:8.0f} req/s{cpu}" + (f"  ({errors} errors)" if errors else ""))
    print("\nPage weight of /home, gzip as served (no images):")
    for label, size in weight.items():
        print(f"  {label:60} {size / 1024:7.1f} KB")
    print(f"  {'total':60} {sum(weight.values()) / 1024:7.1f} KB (budget 100 KB)")
    print("\nSQL statements per page (in-process count):")
    for label, n in stmts.items():
        print(f"  {label:40} {n:8d}")


if __name__ == "__main__":
    main()
