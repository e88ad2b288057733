"""Start-up leaves the heavy optional libraries unimported; the first request needing one loads it.

Each case runs in a fresh interpreter (the test process has long imported everything): the app of the
default install (every plugin) starts on the test's database, answers ``/healthz``, and reports which
of the libraries below are in ``sys.modules``; then it serves sign-in, a memo and a filtered listing.
"""

from __future__ import annotations

import json
import subprocess
import sys

from memos_core.config import Config

#: Libraries that only some requests need, by the feature that needs them.
LAZY = {
    "aiobotocore": "S3 storage",
    "botocore": "S3 storage",
    "celpy": "filters",
    "lark": "filters",
    "markdown_it": "markdown",
    "PIL": "image uploads and thumbnails",
    "pi_heif": "image uploads and thumbnails",
    "aiosmtplib": "mail",
    "jwt": "sign-in and tokens",
    "numpy": "semantic search (memos-semantic)",
    "wordllama": "semantic search (memos-semantic)",
}

SCRIPT = """
import asyncio, json, sys

from aiohttp.test_utils import TestClient, TestServer

from memos_core.app import create_app
from memos_core.config import Config

LAZY = json.loads(sys.argv[1])


def loaded():
    return sorted(name for name in LAZY if name in sys.modules)


async def main():
    config = Config(**json.loads(sys.argv[2]))
    out = {}
    async with TestClient(TestServer(create_app(config))) as client:
        r = await client.get("/healthz")
        out["healthz"] = r.status
        await asyncio.sleep(0.5)  # start-up jobs (the scheduler's @startup runs) have had their turn
        out["idle"] = loaded()
        password = {"username": "ada", "password": "secret-pw-1"}
        r = await client.post("/api/v1/users", json=password)
        out["signup"] = r.status
        r = await client.post("/api/v1/auth/signin", json={"passwordCredentials": password})
        out["signin"] = r.status
        auth = {"Authorization": "Bearer " + (await r.json())["accessToken"]}
        body = {"content": "#lazy **bold** text", "visibility": "PRIVATE"}
        r = await client.post("/api/v1/memos", json=body, headers=auth)
        out["created"] = (r.status, (await r.json()).get("tags"))
        await client.post("/api/v1/memos", json={"content": "#other", "visibility": "PRIVATE"}, headers=auth)
        r = await client.get("/api/v1/memos", params={"filter": 'tag in ["lazy"]'}, headers=auth)
        out["filtered"] = (r.status, [m["content"] for m in (await r.json()).get("memos", [])])
        out["after"] = loaded()
    print(json.dumps(out))


asyncio.run(main())
"""


def run_app(config: Config) -> dict:
    fields = {"data": str(config.data), "driver": config.driver, "dsn": config.dsn}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(sorted(LAZY)), json.dumps(fields)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_start_up_imports_none_of_the_optional_libraries_and_requests_load_them(memos_config):
    out = run_app(memos_config)
    assert out["healthz"] == 200
    assert out["idle"] == [], {name: LAZY[name] for name in out["idle"]}
    # The first requests that need them import them, and work.
    assert out["signup"] == 200 and out["signin"] == 200
    assert out["created"] == [200, ["lazy"]]
    assert out["filtered"] == [200, ["#lazy **bold** text"]]
    assert {"jwt", "markdown_it", "celpy", "lark"} <= set(out["after"])
    assert not {"botocore", "aiobotocore", "PIL", "aiosmtplib"} & set(out["after"])  # still not needed
