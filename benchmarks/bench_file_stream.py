"""Attachment downloads through the file server: throughput, and server memory against file size.

Seeds two LOCAL attachments (10 MB and 100 MB by default) on a fresh data directory, serves it
with `memos serve` in a subprocess, then downloads each file fully (several times) and by ranges
(first bytes, suffix, open-ended, random 4 MiB windows) from this process. The server's resident
memory is read from `/proc/<pid>/status` (VmRSS now, VmHWM the peak) after a warm-up and after
each file's downloads: if memory grew with the file size, the peak after the 100 MB file would be
about 90 MB above the peak after the 10 MB one.

    .venv/bin/python benchmarks/bench_file_stream.py [--sizes 10,100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from memos_core.app import create_app
from memos_core.config import Config
from memos_core.context import CONTEXT
from memos_core.store import tables

MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_file(path: Path, size: int) -> None:
    """``size`` bytes of incompressible data, written 1 MiB at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MB)
    with path.open("wb") as f:
        for _ in range(size // MB):
            f.write(block)
        f.write(block[: size % MB])


async def seed(data: Path, sizes_mb: list[int]) -> tuple[str, dict[int, str]]:
    """A user with a PAT, and one unlinked LOCAL attachment per size; returns the PAT and the uids."""
    app = create_app(Config(data=str(data)))
    uids: dict[int, str] = {}
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/api/v1/users", json={"username": "bench", "password": "bench-password"})
        assert r.status == 200, await r.text()
        r = await client.post(
            "/api/v1/auth/signin", json={"passwordCredentials": {"username": "bench", "password": "bench-password"}}
        )
        body = await r.json()
        h = {"Authorization": f"Bearer {body['accessToken']}"}
        r = await client.post("/api/v1/users/bench/personalAccessTokens", json={"description": "bench"}, headers=h)
        pat = (await r.json())["token"]
        ctx = client.app[CONTEXT]
        now = int(time.time())
        async with ctx.store.connection():
            user_id = await ctx.store.fetch_val(sa.select(tables.user.c.id).where(tables.user.c.username == "bench"))
            for size_mb in sizes_mb:
                uid = uuid.uuid4().hex[:20]
                reference = f"assets/{uid}_bench_{size_mb}mb.bin"
                write_file(data / reference, size_mb * MB)
                await ctx.store.execute(
                    tables.attachment.insert().values(
                        uid=uid,
                        creator_id=user_id,
                        created_ts=now,
                        updated_ts=now,
                        filename=f"bench_{size_mb}mb.bin",
                        blob=None,
                        type="application/octet-stream",
                        size=size_mb * MB,
                        memo_id=None,
                        storage_type="LOCAL",
                        reference=reference,
                        payload="{}",
                    )
                )
                uids[size_mb] = uid
    return pat, uids


def memory(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


async def download(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, int]:
    """Fetch and discard a body chunk by chunk; returns (status, bytes received)."""
    async with session.get(url, headers=headers) as r:
        n = 0
        async for chunk in r.content.iter_chunked(256 * 1024):
            n += len(chunk)
        return r.status, n


async def exercise(base: str, uid: str, size: int, pat: str, repeat: int) -> dict[str, float]:
    url = f"{base}/file/attachments/{uid}/file.bin"
    auth = {"Authorization": f"Bearer {pat}"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        started = time.perf_counter()
        for _ in range(repeat):
            status, n = await download(session, url, auth)
            assert status == 200 and n == size, (status, n)
        full = time.perf_counter() - started
        # two clients downloading the whole file at once
        results = await asyncio.gather(*(download(session, url, auth) for _ in range(2)))
        assert all(s == 200 and n == size for s, n in results), results
        ranges = {"bytes=0-1023": 1024, "bytes=-10": 10, f"bytes={size - 5 * MB}-": 5 * MB}
        rng = random.Random(size)
        for _ in range(10):
            start = rng.randrange(0, size - 4 * MB)
            ranges[f"bytes={start}-{start + 4 * MB - 1}"] = 4 * MB
        started_r = time.perf_counter()
        for header, expected in ranges.items():
            status, n = await download(session, url, {**auth, "Range": header})
            assert status == 206 and n == expected, (header, status, n)
        ranged = time.perf_counter() - started_r
    return {"full_s": full / repeat, "full_mb_s": size / MB * repeat / full, "ranges_s": ranged}


async def measure(base: str, pid: int, pat: str, uids: dict[int, str], repeat: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # warm-up: the code paths of a small request
            async with session.get(f"{base}/healthz") as r:
                await r.read()
            async with session.get(
                f"{base}/file/attachments/{next(iter(uids.values()))}/x",
                headers={"Authorization": f"Bearer {pat}", "Range": "bytes=0-99"},
            ) as r:
                assert r.status == 206, r.status
                await r.read()
    mem = memory(pid)
    print(f"server after warm-up:            VmRSS {mem['VmRSS']:7.1f} MiB   VmHWM {mem['VmHWM']:7.1f} MiB")
    for size_mb, uid in sorted(uids.items()):
        figures = await exercise(base, uid, size_mb * MB, pat, repeat)
        mem = memory(pid)
        print(
            f"after the {size_mb:>4} MB file:           VmRSS {mem['VmRSS']:7.1f} MiB   VmHWM {mem['VmHWM']:7.1f} MiB"
            f"   full download {figures['full_s'] * 1000:7.1f} ms ({figures['full_mb_s']:6.0f} MB/s),"
            f" 13 ranges {figures['ranges_s'] * 1000:6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100", help="file sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="full downloads per file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    with tempfile.TemporaryDirectory(prefix="memos-bench-files-") as tmp:
        data = Path(tmp)
        pat, uids = asyncio.run(seed(data, sizes))
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "memos_core.cli", "serve", "--data", str(data), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise RuntimeError("memos serve did not start") from None
                    time.sleep(0.1)
            print(f"memos serve pid {server.pid}; LOCAL attachments of {', '.join(f'{s} MB' for s in sizes)}")
            asyncio.run(measure(base, server.pid, pat, uids, args.repeat))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
