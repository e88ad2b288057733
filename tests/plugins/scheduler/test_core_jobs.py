"""The core's own jobs run whatever storage plugins are installed: with the local-storage plugin
(``core-storage``) blocked and attachments kept by another backend, the scheduler still runs the
orphan-attachment clean-up, claimed per slot like every job."""

from __future__ import annotations

import base64
import dataclasses
import time

import pytest
from fixtures.memory_storage import MemoryStorage
from memos_scheduler import SCHEDULER
from memos_scheduler.scheduler import job_run

from memos_core import CONTEXT, tables


@pytest.fixture
def memos_config(memos_config):
    return dataclasses.replace(memos_config, disable_plugins=("core-storage",))


@pytest.fixture
def memos_extra_plugins():
    return [MemoryStorage()]


async def test_orphan_job_runs_with_local_storage_blocked(memos_client, memos_users, memos_extra_plugins):
    app = memos_client.app
    ctx = app[CONTEXT]
    backend = memos_extra_plugins[0].backend
    assert not {"LOCAL", "DATABASE"} & set(ctx.storages.names())  # core-storage is blocked
    assert ctx.runners["attachment-orphans"].plugin == "core"

    admin = await memos_users("root", role="ADMIN")
    setting = {"storageSetting": {"storageType": "MEMORY"}}
    r = await memos_client.patch("/api/v1/instance/settings/STORAGE", json=setting, headers=admin.headers)
    assert r.status == 200, await r.text()
    body = {"filename": "left.txt", "content": base64.b64encode(b"abandoned upload").decode()}
    r = await memos_client.post("/api/v1/attachments", json=body, headers=admin.headers)
    assert r.status == 200, await r.text()
    uid = (await r.json())["name"].removeprefix("attachments/")
    async with ctx.store.connection():  # uploaded a day ago and never linked to a memo
        await ctx.store.execute(
            tables.attachment.update()
            .where(tables.attachment.c.uid == uid)
            .values(created_ts=int(time.time()) - 25 * 3600)
        )

    scheduler = app[SCHEDULER].scheduler
    job = next(j for j in scheduler.jobs if j.name == "attachment-orphans")
    slot = int(time.time()) // 3600 * 3600
    await scheduler.launch(job, slot)

    assert backend.deleted == [uid] and backend.blobs == {}
    r = await memos_client.get(f"/api/v1/attachments/{uid}", headers=admin.headers)
    assert r.status == 404
    async with ctx.store.connection():  # the run claimed its slot, as every instance's run does
        rows = await ctx.store.fetch_all(job_run.select().where(job_run.c.job == "attachment-orphans"))
    assert [(row.slot, row.error) for row in rows] == [(slot, "")]
