"""LOCAL and DATABASE storage and the STORAGE setting: templates, traversal
attempts, switching backends with old attachments still readable, and the setting's rules."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import os
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from memos_core import expand_path_template, storage_local
from memos_core.config import Config
from memos_core.context import CONTEXT
from memos_core.errors import ApiError
from memos_core.services import attachments as attachment_service
from memos_core.services import storage_setting
from memos_core.store import attachments as attachments_store
from memos_core.store import settings as settings_store
from memos_core.store import tables


@pytest.fixture
def memos_config(tmp_path, memos_driver, memos_new_config) -> Config:
    """The data directory is a child of ``tmp_path``, so tests can see anything written next to it."""
    data = tmp_path / "data"
    data.mkdir()
    if memos_driver == "sqlite":
        return Config(data=str(data), driver="sqlite")
    return dataclasses.replace(memos_new_config(memos_driver), data=str(data))


@pytest.fixture
def data_dir(memos_config) -> Path:
    return Path(memos_config.data)


@pytest.fixture
def outside(tmp_path):
    """Files written outside the data directory (there must never be any)."""
    return lambda: sorted(p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(tmp_path / "data"))


@pytest.fixture
async def owner(memos_users):
    return await memos_users("alice")


async def db(client, fn):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await fn(ctx.store)


async def set_storage(client, value: dict) -> None:
    await db(client, lambda s: settings_store.set_instance_setting(s, "STORAGE", value))


async def upload(client, user, filename="note.txt", data=b"hello"):
    body = json.dumps({"filename": filename, "content": base64.b64encode(data).decode()}).encode()
    headers = {**user.headers, "Content-Type": "application/json"}
    return await client.post("/api/v1/attachments", data=io.BytesIO(body), headers=headers)


async def create(client, user, filename="note.txt", data=b"hello") -> dict:
    r = await upload(client, user, filename, data)
    assert r.status == 200, await r.text()
    return await r.json()


async def row_of(client, name: str) -> dict:
    return await db(client, lambda s: attachments_store.get(s, name.removeprefix("attachments/")))


async def all_rows(client) -> list[dict]:
    q = sa.select(tables.attachment).order_by(tables.attachment.c.id)
    return [dict(r._mapping) for r in await db(client, lambda s: s.fetch_all(q))]


async def open_bytes(client, row: dict) -> bytes:
    """Read an attachment back through the backend its row names (what the file server does)."""
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        download = await ctx.storages.for_row(row).open(ctx, row)
    if download.path is not None:
        return download.path.read_bytes()
    return download.data


# -- templates -----------------------------------------------------------------------------------
def test_expand_template_placeholders():
    when = dt.datetime(2024, 3, 5, 7, 8, 9)
    out = expand_path_template(
        "{year}/{month}/{day}/{hour}{minute}{second}/{timestamp}_{uuid}_{unknown}_{filename}",
        "a.png",
        now=when.timestamp(),
    )
    pattern = r"^2024/03/05/070809/(\d+)_[0-9a-f-]{36}_\{unknown\}_a\.png$"
    match = re.match(pattern, out)
    assert match and int(match.group(1)) == int(when.timestamp())


def test_filename_is_appended_when_missing():
    assert storage_local.check_template("uploads/{year}") == "uploads/{year}/{filename}"
    assert storage_local.check_template("uploads/") == "uploads/{filename}"
    assert storage_local.check_template("x/{filename}") == "x/{filename}"


@pytest.mark.parametrize(
    "template",
    [
        "../{filename}",
        "assets/../../{filename}",
        "./{filename}",
        "%2e%2e/{filename}",
        "assets%2F..%2F{filename}",
        "a\x00b/{filename}",
        "a\\..\\{filename}",
        "\uff0e\uff0e/{filename}",  # full-width dots fold to ..
        "assets\u2215..\u2215{filename}",  # division slash
        "a\u202e/{filename}",
        "",
        "   ",
    ],
)
def test_bad_templates_are_refused(template):
    with pytest.raises(ApiError) as e:
        storage_local.check_template(template)
    assert e.value.code == 3


@pytest.mark.parametrize(
    "name", ["ok.txt", "résumé.pdf", "日本語.png", "a b.txt", "a..b.txt", "family \U0001f468\u200d\U0001f469.png"]
)
def test_good_filenames(name):
    assert storage_local.check_filename(name) == name


# -- LOCAL ---------------------------------------------------------------------------------------
async def test_custom_template_and_name_collision(memos_client, owner, data_dir):
    await set_storage(memos_client, {"storageType": "LOCAL", "filepathTemplate": "files/{year}"})
    first = await row_of(memos_client, (await create(memos_client, owner, "same.txt", b"1"))["name"])
    second = await row_of(memos_client, (await create(memos_client, owner, "same.txt", b"2"))["name"])
    year = dt.datetime.now().year
    assert first["reference"] == f"files/{year}/same.txt"
    assert second["reference"] == f"files/{year}/same_{second['uid']}.txt"
    assert (data_dir / first["reference"]).read_bytes() == b"1"
    assert (data_dir / second["reference"]).read_bytes() == b"2"


async def test_files_are_0644_whatever_the_umask(memos_client, owner, data_dir):
    old = os.umask(0o077)
    try:
        row = await row_of(memos_client, (await create(memos_client, owner))["name"])
    finally:
        os.umask(old)
    assert (data_dir / row["reference"]).stat().st_mode & 0o777 == 0o644


async def test_absolute_template_inside_the_data_dir(memos_client, owner, data_dir):
    await set_storage(memos_client, {"storageType": "LOCAL", "filepathTemplate": f"{data_dir}/abs/{{filename}}"})
    row = await row_of(memos_client, (await create(memos_client, owner, "a.txt", b"abs"))["name"])
    assert row["reference"] == str(data_dir.resolve() / "abs" / "a.txt")
    assert await open_bytes(memos_client, row) == b"abs"


@pytest.mark.parametrize(
    "template",
    [
        "/tmp/{filename}",
        "../escape/{filename}",
        "assets/../../escape/{filename}",
        "%2e%2e/{filename}",
        "\uff0e\uff0e/{filename}",
        "x\u2215..\u2215..\u2215{filename}",
        "a\x00/{filename}",
    ],
)
async def test_stored_bad_template_writes_nothing(memos_client, owner, data_dir, outside, template):
    """A hand-edited (or legacy) setting row is checked again at save time."""
    await set_storage(memos_client, {"storageType": "LOCAL", "filepathTemplate": template})
    r = await upload(memos_client, owner, "a.txt")
    assert r.status == 400, await r.text()
    assert (await r.json())["code"] == 3
    assert await all_rows(memos_client) == [] and outside() == []
    assert [p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("memos_")] == []


async def test_symlink_out_of_the_data_dir_is_refused(memos_client, owner, data_dir, tmp_path, outside):
    (tmp_path / "elsewhere").mkdir()
    (data_dir / "assets").symlink_to(tmp_path / "elsewhere")
    r = await upload(memos_client, owner)
    assert r.status == 400
    assert outside() == [] and await all_rows(memos_client) == []


async def test_bytes_are_removed_when_the_row_cannot_be_written(memos_client, owner, data_dir, monkeypatch):
    async def broken_insert(store, **values):
        raise RuntimeError("disk full")

    monkeypatch.setattr(attachments_store, "insert", broken_insert)
    r = await upload(memos_client, owner)
    assert r.status == 500
    assert [p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("memos_")] == []


async def test_local_delete_stays_inside_the_data_dir(memos_client, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    ctx = memos_client.app[CONTEXT]
    backend = ctx.storages.get("LOCAL")
    for reference in ("../victim.txt", str(victim)):
        with pytest.raises(ApiError):
            await backend.delete(ctx, {"reference": reference, "storage_type": "LOCAL"})
        with pytest.raises(ApiError):
            await backend.open(ctx, {"reference": reference, "storage_type": "LOCAL", "updated_ts": 1})
    assert victim.read_text() == "keep me"


# -- DATABASE and switching ------------------------------------------------------------------------
async def test_database_storage(memos_client, owner, data_dir):
    await set_storage(memos_client, {"storageType": "DATABASE"})
    name = (await create(memos_client, owner, "blob.bin", b"\x00\x01blob"))["name"]
    (row,) = await all_rows(memos_client)
    assert (row["storage_type"], row["reference"], row["blob"], row["size"]) == ("", "", b"\x00\x01blob", 6)
    assert [p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("memos_")] == []
    meta = await row_of(memos_client, name)
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        download = await ctx.storages.for_row(meta).open(ctx, meta)
    assert (download.data, download.size, download.modified_ts) == (b"\x00\x01blob", 6, meta["updated_ts"])
    assert download.path is None
    r = await memos_client.delete(f"/api/v1/{name}", headers=owner.headers)
    assert r.status == 200 and await all_rows(memos_client) == []


async def test_switching_storage_keeps_old_attachments_readable(memos_client, owner, data_dir):
    local = (await create(memos_client, owner, "local.txt", b"on disk"))["name"]
    await set_storage(memos_client, {"storageType": "DATABASE"})
    stored = (await create(memos_client, owner, "db.txt", b"in db"))["name"]
    await set_storage(memos_client, {"storageType": "LOCAL", "filepathTemplate": "later/{filename}"})
    later = (await create(memos_client, owner, "later.txt", b"later"))["name"]

    expected = {local: ("LOCAL", b"on disk"), stored: ("", b"in db"), later: ("LOCAL", b"later")}
    for name, (storage_type, content) in expected.items():
        r = await memos_client.get(f"/api/v1/{name}", headers=owner.headers)
        assert r.status == 200 and (await r.json())["size"] == str(len(content))
        row = await row_of(memos_client, name)
        assert row["storage_type"] == storage_type
        assert await open_bytes(memos_client, row) == content
    assert (await row_of(memos_client, later))["reference"] == "later/later.txt"


async def test_orphans_in_the_database_are_removed_too(memos_client, owner):
    await set_storage(memos_client, {"storageType": "DATABASE"})
    await create(memos_client, owner)
    q = tables.attachment.update().values(created_ts=1)
    await db(memos_client, lambda s: s.execute(q))
    assert await attachment_service.cleanup_orphans(memos_client.app) == 1
    assert await all_rows(memos_client) == []


# -- the STORAGE setting ---------------------------------------------------------------------------
async def test_setting_defaults_and_normalisation(memos_client):
    get = lambda: db(memos_client, storage_setting.get)  # noqa: E731
    assert await get() == {
        "storageType": "LOCAL",
        "filepathTemplate": "assets/{timestamp}_{uuid}_{filename}",
        "uploadSizeLimitMb": "30",
        "s3Config": None,
    }
    await set_storage(memos_client, {"uploadSizeLimitMb": "0"})
    value = await get()
    assert value["storageType"] == "DATABASE"  # a stored row without a type is upstream's DATABASE
    assert value["uploadSizeLimitMb"] == "30"
    assert storage_setting.upload_limit_bytes(value) == 30 * 1024 * 1024
    await set_storage(memos_client, {"storageType": "LOCAL", "uploadSizeLimitMb": "5", "filepathTemplate": "x"})
    value = await get()
    assert (value["uploadSizeLimitMb"], value["filepathTemplate"]) == ("5", "x")


def test_setting_validation():
    names = ["DATABASE", "LOCAL"]
    ok = storage_setting.validate(
        {"storageType": "LOCAL", "filepathTemplate": "up/{year}", "uploadSizeLimitMb": 12}, names, {}
    )
    assert ok == {"storageType": "LOCAL", "filepathTemplate": "up/{year}/{filename}", "uploadSizeLimitMb": "12"}
    assert storage_setting.validate({"storage_type": 1}, names, {})["storageType"] == "DATABASE"
    bad = [
        {"storageType": "FTP"},
        {"storageType": "S3"},  # not registered in this list
        {"storageType": "STORAGE_TYPE_UNSPECIFIED"},
        {"storageType": "LOCAL", "uploadSizeLimitMb": "0"},
        {"storageType": "LOCAL", "uploadSizeLimitMb": "-1"},
        {"storageType": "LOCAL", "uploadSizeLimitMb": "ten"},
        {"storageType": "LOCAL", "filepathTemplate": "../{filename}"},
        {"storageType": "LOCAL", "s3Config": "x"},
        {"storageType": "LOCAL", "s3Config": {"usePathStyle": "yes"}},
    ]
    for value in bad:
        with pytest.raises(ApiError):
            storage_setting.validate(value, names, {})


def test_s3_secret_is_write_only():
    previous = {"s3Config": {"accessKeyId": "id", "accessKeySecret": "s3cr3t", "bucket": "b"}}
    value = {"storageType": "LOCAL", "s3Config": {"accessKeyId": "id2", "accessKeySecret": "", "bucket": "b"}}
    stored = storage_setting.validate(value, ["LOCAL"], previous)
    assert stored["s3Config"] == {"accessKeyId": "id2", "accessKeySecret": "s3cr3t", "bucket": "b"}
    replaced = storage_setting.validate(
        {**value, "s3Config": {"accessKeySecret": "new", "usePathStyle": True}}, ["LOCAL"], previous
    )
    assert replaced["s3Config"] == {"accessKeySecret": "new", "usePathStyle": True}
    shown = storage_setting.public_view({"storageType": "S3", "s3Config": {"accessKeySecret": "s3cr3t"}})
    assert shown["s3Config"]["accessKeySecret"] == ""


async def test_setting_api_functions_are_admin_only(memos_client, memos_users):
    user = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    ctx = memos_client.app[CONTEXT]
    user_principal = type("P", (), {"id": user.id, "is_admin": False})()
    admin_principal = type("P", (), {"id": admin.id, "is_admin": True})()
    async with ctx.store.connection():
        for viewer, code in ((None, 16), (user_principal, 7)):
            with pytest.raises(ApiError) as e:
                await storage_setting.read_api(ctx, viewer)
            assert e.value.code == code
            with pytest.raises(ApiError):
                await storage_setting.update_api(ctx, viewer, {"storageSetting": {"storageType": "DATABASE"}})
        await settings_store.set_instance_setting(
            ctx.store, "STORAGE", {"storageType": "LOCAL", "s3Config": {"accessKeySecret": "keep"}}
        )
        value = await storage_setting.update_api(
            ctx, admin_principal, {"storageSetting": {"storageType": "DATABASE", "s3Config": {"bucket": "b"}}}
        )
        assert value["storageType"] == "DATABASE" and value["s3Config"]["accessKeySecret"] == ""
        assert (await storage_setting.get(ctx.store))["s3Config"]["accessKeySecret"] == "keep"
        assert set(ctx.storages.names()) >= {"DATABASE", "LOCAL"}


# -- the STORAGE setting over HTTP -------------------------------------------------------------------
SETTING_URL = "/api/v1/instance/settings/STORAGE"


async def test_storage_setting_api_access(memos_client, memos_users):
    user = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    for headers, status, code in (({}, 401, 16), (user.headers, 403, 7)):
        r = await memos_client.get(SETTING_URL, headers=headers)
        assert (r.status, (await r.json())["code"]) == (status, code)
        r = await memos_client.patch(SETTING_URL, json={"storageSetting": {"storageType": "DATABASE"}}, headers=headers)
        assert (r.status, (await r.json())["code"]) == (status, code)
    r = await memos_client.get(SETTING_URL, headers=admin.headers)
    assert r.status == 200
    assert await r.json() == {
        "name": "instance/settings/STORAGE",
        "storageSetting": {
            "storageType": "LOCAL",
            "filepathTemplate": "assets/{timestamp}_{uuid}_{filename}",
            "uploadSizeLimitMb": "30",
            "s3Config": None,
        },
    }
    assert await db(memos_client, lambda s: settings_store.get_instance_setting(s, "STORAGE")) is None


async def test_storage_setting_api_round_trip_and_switch(memos_client, memos_users, data_dir):
    admin = await memos_users("root", role="ADMIN")
    local = (await create(memos_client, admin, "before.txt", b"local bytes"))["name"]
    value = {
        "storageType": "DATABASE",
        "filepathTemplate": "up/{year}",
        "uploadSizeLimitMb": "2",
        "s3Config": {"accessKeyId": "id", "accessKeySecret": "top-secret", "bucket": "b"},
    }
    r = await memos_client.patch(
        SETTING_URL, params={"updateMask": "storage_type"}, json={"storageSetting": value}, headers=admin.headers
    )
    assert r.status == 200, await r.text()
    shown = (await r.json())["storageSetting"]
    assert "top-secret" not in await r.text()
    assert shown["storageType"] == "DATABASE" and shown["filepathTemplate"] == "up/{year}/{filename}"
    assert shown["uploadSizeLimitMb"] == "2" and shown["s3Config"]["accessKeySecret"] == ""
    # The secret sent empty is kept.
    value["s3Config"]["accessKeySecret"] = ""
    r = await memos_client.patch(SETTING_URL, json={"storageSetting": value}, headers=admin.headers)
    assert r.status == 200
    stored = await db(memos_client, lambda s: settings_store.get_instance_setting(s, "STORAGE"))
    assert stored["s3Config"]["accessKeySecret"] == "top-secret"
    # New uploads go to the database; the old LOCAL one still reads back.
    db_name = (await create(memos_client, admin, "after.txt", b"db bytes"))["name"]
    assert (await row_of(memos_client, db_name))["storage_type"] == ""
    assert await open_bytes(memos_client, await row_of(memos_client, local)) == b"local bytes"
    assert await open_bytes(memos_client, await row_of(memos_client, db_name)) == b"db bytes"
    r = await upload(memos_client, admin, "big.bin", b"x" * (2 * 1024 * 1024 + 1))
    assert r.status == 400 and "file size exceeds the limit" in (await r.json())["message"]


@pytest.mark.parametrize(
    "value",
    [
        {"storageType": "FTP"},
        {"storageType": "LOCAL", "filepathTemplate": "../{filename}"},
        {"storageType": "LOCAL", "filepathTemplate": "%2e%2e/{filename}"},
        {"storageType": "LOCAL", "filepathTemplate": "\uff0e\uff0e/{filename}"},
        {"storageType": "LOCAL", "filepathTemplate": "a\x00/{filename}"},
        {"storageType": "LOCAL", "filepathTemplate": "a\u2215..\u2215{filename}"},
        {"storageType": "LOCAL", "uploadSizeLimitMb": "0"},
        "LOCAL",
    ],
)
async def test_storage_setting_api_rejects_bad_values(memos_client, memos_users, value):
    admin = await memos_users("root", role="ADMIN")
    r = await memos_client.patch(SETTING_URL, json={"storageSetting": value}, headers=admin.headers)
    assert r.status == 400 and (await r.json())["code"] == 3, await r.text()
    assert await db(memos_client, lambda s: settings_store.get_instance_setting(s, "STORAGE")) is None
    r = await memos_client.patch(SETTING_URL, json={"generalSetting": {}}, headers=admin.headers)
    assert r.status == 400


async def test_a_cancelled_upload_waits_for_its_writing_thread(tmp_path, monkeypatch):
    """Cancelling a save (the client went away, the server stops) must not close the file under a
    write still running in its thread: that descriptor number may already be another socket's."""
    import asyncio
    import threading
    import types

    started, release = threading.Event(), threading.Event()
    seen: list[object] = []
    write_all = storage_local._write_all

    def slow_write(fd: int, data: bytes) -> None:
        started.set()
        release.wait(5)
        try:
            seen.append(os.fstat(fd).st_size)  # still our file, open
        except OSError as e:
            seen.append(e)
        write_all(fd, data)

    monkeypatch.setattr(storage_local, "_write_all", slow_write)

    async def chunks():
        yield b"hello"

    ctx = types.SimpleNamespace(config=types.SimpleNamespace(data_dir=tmp_path))
    save = asyncio.ensure_future(
        storage_local.LocalStorage().save(
            ctx, uid="u1", filename="a.txt", content_type="text/plain", chunks=chunks(), setting={}
        )
    )
    await asyncio.to_thread(started.wait, 5)
    save.cancel()
    await asyncio.sleep(0.05)
    assert not save.done(), "cancellation returned while the thread still held the file"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await save
    assert seen == [0]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # the partial file is gone
