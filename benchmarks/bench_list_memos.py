"""ListMemos throughput and statements per request, beside a plain aiohttp ceiling.

Seeds 5,000 memos through the API (every 4th PUBLIC, a reaction on every 5th, a reference from
every 4th to its neighbour, a comment on every 6th), then serves the data with `memos serve` in a
subprocess and measures requests/s from a separate load process for:

* the first page (signed in, pageSize 10),
* page 10 via `pageToken`,
* the anonymous public page,
* a plain aiohttp handler returning a fixed body of the first page's size (the ceiling).

Statements per request are counted in-process (the store counts what it runs) for several page
sizes, to show the count does not grow with the page. Beside requests/s, the server process's CPU
time per request is reported (from /proc, on Linux): on a shared machine it varies far less with
other load than throughput does.

    .venv/bin/python benchmarks/bench_list_memos.py [--memos 5000] [--seconds 5] [--concurrency 16]
        [--driver postgres --dsn postgresql://...]   (an empty database on that server)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
from _common import free_port, load, measure, seed, wait_ready

from memos_core.config import Config

CEILING_SERVER = """
import sys
from aiohttp import web
body = open(sys.argv[2], "rb").read()
async def page(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/api/v1/memos", page)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--memos", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--driver", default="sqlite", help="database driver (sqlite, postgres, mysql)")
    p.add_argument("--dsn", default="", help="DSN of an empty database for a server driver")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        config = Config.from_env(data=str(data), driver=args.driver, dsn=args.dsn)  # MEMOS_* as the server sees them
        pat, stmts = asyncio.run(seed(config, args.memos))
        auth = {"Authorization": f"Bearer {pat}"}

        port = free_port()
        env = {
            **os.environ,
            "MEMOS_DATA": str(data),
            "MEMOS_PORT": str(port),
            "MEMOS_ADDR": "127.0.0.1",
            "MEMOS_DRIVER": args.driver,
            "MEMOS_DSN": args.dsn,
        }
        server = subprocess.Popen([sys.executable, "-m", "memos_core.cli", "serve"], env=env, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/api/v1/memos"
        results = {}
        try:
            asyncio.run(wait_ready(base))

            async def page_token() -> tuple[str, int]:
                async with aiohttp.ClientSession() as s:
                    token = ""
                    for _ in range(9):
                        async with s.get(f"{base}?pageSize=10&pageToken={token}", headers=auth) as r:
                            token = (await r.json())["nextPageToken"]
                    async with s.get(base + "?pageSize=10", headers=auth) as r:
                        size = len(await r.read())
                    return token, size

            token, first_page_size = asyncio.run(page_token())
            scenarios = {
                "first page (signed in, 10)": (f"{base}?pageSize=10", auth),
                "page 10 via pageToken": (f"{base}?pageSize=10&pageToken={token}", auth),
                "anonymous public page (10)": (f"{base}?pageSize=10", {}),
            }
            for label, (url, headers) in scenarios.items():
                asyncio.run(load(url, headers, 1.0, args.concurrency))  # warm-up
                results[label] = measure(server.pid, url, headers, args.seconds, args.concurrency)
        finally:
            server.terminate()
            server.wait(10)

        body_file = data / "page.json"
        body_file.write_bytes(json.dumps({"memos": [], "pad": "x" * max(first_page_size - 30, 0)}).encode())
        port = free_port()
        ceiling = subprocess.Popen([sys.executable, "-c", CEILING_SERVER, str(port), str(body_file)])
        try:
            url = f"http://127.0.0.1:{port}/api/v1/memos"
            asyncio.run(wait_ready(url))
            asyncio.run(load(url, {}, 1.0, args.concurrency))
            results["ceiling: plain aiohttp, same body size"] = measure(
                ceiling.pid, url, {}, args.seconds, args.concurrency
            )
        finally:
            ceiling.terminate()
            ceiling.wait(10)

    print(f"\nListMemos on {args.driver}, {args.memos} memos, ", end="")
    print(f"{args.concurrency} concurrent clients, {args.seconds:.0f}s each")
    print(f"(first page body: {first_page_size} bytes)")
    for label, (rps, errors, cpu_ms) in results.items():
        cpu = f"  {cpu_ms:6.2f} ms server CPU/request" if cpu_ms is not None else ""
        print(f"  {label:42} {rps:8.0f} req/s{cpu}" + (f"  ({errors} errors)" if errors else ""))
    print("\nSQL statements per request (in-process count):")
    for label, n in stmts.items():
        print(f"  {label:42} {n:8d}")


if __name__ == "__main__":
    main()
