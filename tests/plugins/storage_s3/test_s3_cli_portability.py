"""``memos export`` and ``memos import`` on the command line with attachments kept in S3: the CLI
reads and writes the bucket as the server does."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import zipfile

from test_s3_api import use_s3

from memos_core import cli


async def test_cli_export_and_import_carry_s3_attachments(
    memos_client, memos_users, memos_config, s3_server, key_prefix, tmp_path
):
    alice = await memos_users("alice")
    carol = await memos_users("carol")
    await use_s3(memos_client, s3_server, key_prefix, "{uuid}_{filename}")
    data = os.urandom(70_000)
    body = {"filename": "photo.bin", "type": "application/octet-stream", "content": base64.b64encode(data).decode()}
    r = await memos_client.post("/api/v1/attachments", json=body, headers=alice.headers)
    assert r.status == 200, await r.text()
    attachment = (await r.json())["name"]
    r = await memos_client.post(
        "/api/v1/memos", json={"content": "with a photo", "attachments": [{"name": attachment}]}, headers=alice.headers
    )
    assert r.status == 200, await r.text()

    base = ["--driver", memos_config.driver, "--data", str(memos_config.data)]
    if memos_config.dsn:
        base += ["--dsn", memos_config.dsn]
    out = tmp_path / "alice.zip"
    # The CLI runs its own event loop, as it does from a shell.
    assert await asyncio.to_thread(cli.main, ["export", "--user", "alice", "--output", str(out), *base]) == 0
    archive = zipfile.ZipFile(out)
    (memo,) = json.loads(archive.read("memos.json"))["memos"]
    (entry,) = [n for n in archive.namelist() if n.endswith("photo.bin")]
    assert archive.read(entry) == data and memo["content"] == "with a photo"

    before = {o["Key"] for o in s3_server.boto().list_objects_v2(Bucket=s3_server.bucket)["Contents"]}
    assert await asyncio.to_thread(cli.main, ["import", str(out), "--user", "carol", *base]) == 0
    after = {o["Key"] for o in s3_server.boto().list_objects_v2(Bucket=s3_server.bucket)["Contents"]}
    (new_key,) = after - before  # the imported copy went to the bucket, as STORAGE says
    assert new_key.startswith(f"{key_prefix}/")
    assert s3_server.boto().get_object(Bucket=s3_server.bucket, Key=new_key)["Body"].read() == data

    r = await memos_client.get("/api/v1/memos", headers=carol.headers)
    (imported,) = (await r.json())["memos"]
    (copy,) = imported["attachments"]
    assert imported["content"] == "with a photo" and copy["name"] != attachment
    uid = copy["name"].removeprefix("attachments/")
    r = await memos_client.get(f"/file/attachments/{uid}/photo.bin", headers=carol.headers)
    assert r.status == 200 and await r.read() == data
