"""End to end through the real API: an admin switches storage to S3, uploads, reads and deletes."""

from __future__ import annotations

import base64
import json
import os

import aiohttp
import sqlalchemy as sa

from memos_core import CONTEXT, tables


async def use_s3(memos_client, s3_server, key_prefix, template: str = "{filename}") -> None:
    """Store the STORAGE setting an admin's PATCH would store (S3 on the moto server, objects
    named by ``template`` under ``key_prefix``)."""
    ctx = memos_client.app[CONTEXT]
    t = tables.system_setting
    value = json.dumps(s3_server.setting(f"{key_prefix}/{template}"))
    async with ctx.store.connection(), ctx.store.transaction():
        await ctx.store.execute(sa.delete(t).where(t.c.name == "STORAGE"))
        await ctx.store.execute(t.insert().values(name="STORAGE", value=value, description=""))


async def test_attachment_round_trip_through_s3(memos_client, memos_users, s3_server, key_prefix):
    admin = await memos_users("admin", role="ADMIN")
    await use_s3(memos_client, s3_server, key_prefix)

    data = os.urandom(300_000)
    resp = await memos_client.post(
        "/api/v1/attachments",
        json={"filename": "blob.bin", "type": "application/octet-stream", "content": base64.b64encode(data).decode()},
        headers=admin.headers,
    )
    text = await resp.text()
    assert resp.status == 200, text
    created = json.loads(text)
    uid = created["name"].removeprefix("attachments/")
    assert created["size"] == str(len(data))
    assert created["externalLink"].startswith(f"{s3_server.endpoint}/{s3_server.bucket}/{key_prefix}/blob.bin?")
    assert s3_server.s3_config()["accessKeySecret"] not in text

    # The object is in the bucket, and the row records it the way upstream does.
    stored = s3_server.boto().get_object(Bucket=s3_server.bucket, Key=f"{key_prefix}/blob.bin")
    assert stored["Body"].read() == data
    ctx = memos_client.app[CONTEXT]
    t = tables.attachment
    async with ctx.store.connection():
        row = (await ctx.store.fetch_one(sa.select(t).where(t.c.uid == uid)))._mapping
    assert row["storage_type"] == "S3" and row["blob"] is None
    assert row["reference"] == created["externalLink"]
    assert json.loads(row["payload"])["s3Object"]["key"] == f"{key_prefix}/blob.bin"

    # The presigned link serves the bytes.
    async with aiohttp.ClientSession() as http, http.get(created["externalLink"]) as r:
        assert r.status == 200 and await r.read() == data

    # The file server proxies the object, whole and by range.
    resp = await memos_client.get(f"/file/attachments/{uid}/blob.bin", headers=admin.headers)
    assert resp.status == 200
    assert await resp.read() == data
    resp = await memos_client.get(
        f"/file/attachments/{uid}/blob.bin", headers={**admin.headers, "Range": "bytes=1000-1999"}
    )
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert await resp.read() == data[1000:2000]

    # The config copied into the row (secret included, as upstream) never reaches the API.
    for url in (f"/api/v1/attachments/{uid}", "/api/v1/attachments"):
        resp = await memos_client.get(url, headers=admin.headers)
        text = await resp.text()
        assert resp.status == 200 and uid in text
        assert s3_server.s3_config()["accessKeySecret"] not in text and "s3Config" not in text

    # Deleting the attachment deletes the object.
    resp = await memos_client.delete(f"/api/v1/attachments/{uid}", headers=admin.headers)
    assert resp.status == 200, await resp.text()
    listed = s3_server.boto().list_objects_v2(Bucket=s3_server.bucket, Prefix=key_prefix)
    assert listed.get("KeyCount", 0) == 0


async def test_media_is_redirected_to_a_presigned_url(memos_client, memos_users, s3_server, key_prefix):
    admin = await memos_users("admin", role="ADMIN")
    await use_s3(memos_client, s3_server, key_prefix)
    data = b"\x00\x00\x00\x18ftypmp42" + os.urandom(1000)
    resp = await memos_client.post(
        "/api/v1/attachments",
        json={"filename": "clip.mp4", "type": "video/mp4", "content": base64.b64encode(data).decode()},
        headers=admin.headers,
    )
    assert resp.status == 200, await resp.text()
    uid = (await resp.json())["name"].removeprefix("attachments/")

    resp = await memos_client.get(f"/file/attachments/{uid}/clip.mp4", headers=admin.headers, allow_redirects=False)
    assert resp.status == 307
    location = resp.headers["Location"]
    assert location.startswith(f"{s3_server.endpoint}/{s3_server.bucket}/{key_prefix}/clip.mp4?")
    async with aiohttp.ClientSession() as http, http.get(location) as r:
        assert r.status == 200 and await r.read() == data
