"""Demo mode (``--mode demo``, ``--demo``, ``MEMOS_DEMO``): upstream's throw-away instance whose JWT key
is the public constant ``usememos``. Signing in must work (with warnings as errors, as this suite
runs), and the start-up log must say loudly that the key is public."""

from __future__ import annotations

import dataclasses
import logging
import warnings

import jwt
import pytest
from fixtures import processes as procs

from memos_core import Config
from memos_core.app import create_app

SIGNIN = "/api/v1/auth/signin"


@pytest.fixture
def demo_config(memos_config) -> Config:
    return dataclasses.replace(memos_config, mode="demo")


def decode_with_demo_key(token: str) -> dict:
    """Check a token against the public key, as anyone can (PyJWT's short-key warning is expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.decode(token, "usememos", algorithms=["HS256"], audience="user.access-token")


def demo_warnings(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.levelno == logging.WARNING and "demo mode" in r.getMessage()]


@pytest.mark.filterwarnings("error")  # PyJWT's short-key warning must not turn into a failed sign-in
async def test_sign_up_sign_in_and_use_the_token(aiohttp_client, demo_config):
    client = await aiohttp_client(create_app(demo_config))
    r = await client.get("/api/v1/instance/profile")
    assert r.status == 200 and (await r.json())["demo"] is True
    r = await client.post("/api/v1/users", json={"username": "demo", "password": "secret"})
    assert r.status == 200, await r.text()
    r = await client.post(SIGNIN, json={"passwordCredentials": {"username": "demo", "password": "secret"}})
    assert r.status == 200, await r.text()
    body = await r.json()
    token = body["accessToken"]
    # Signed with upstream's public demo key, so any demo instance (or anyone) can check it.
    claims = decode_with_demo_key(token)
    assert claims["username"] == "demo" and claims["type"] == "access"
    headers = {"Authorization": f"Bearer {token}"}
    r = await client.get("/api/v1/auth/me", headers=headers)
    assert r.status == 200 and (await r.json())["user"]["username"] == "demo"
    r = await client.post("/api/v1/memos", json={"content": "hello from the demo"}, headers=headers)
    assert r.status == 200, await r.text()
    r = await client.post("/api/v1/auth/refresh", json={})  # the refresh cookie from sign-in
    assert r.status == 200, await r.text()
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {(await r.json())['accessToken']}"})
    assert r.status == 200
    # A token signed with any other key is still refused.
    forged = jwt.encode({**claims, "iss": "memos"}, "not-usememos-but-long-enough-for-hs256", headers={"kid": "v1"})
    assert (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})).status == 401


async def test_start_up_warns_that_the_key_is_public(aiohttp_client, demo_config, caplog):
    caplog.set_level(logging.WARNING)
    await aiohttp_client(create_app(demo_config))
    [message] = demo_warnings(caplog.records)
    assert "public key 'usememos'" in message and "never keep real data" in message


async def test_no_demo_warning_in_prod(aiohttp_client, memos_config, caplog):
    caplog.set_level(logging.WARNING)
    await aiohttp_client(create_app(memos_config))
    assert demo_warnings(caplog.records) == []


def test_memos_demo_variable_selects_demo_mode():
    assert Config.from_env({"MEMOS_DEMO": "1"}).demo
    assert Config.from_env({"MEMOS_DEMO": "true", "MEMOS_MODE": "prod"}).mode == "demo"
    assert not Config.from_env({"MEMOS_DEMO": "0"}).demo
    assert not Config.from_env({}).demo


def test_memos_serve_with_memos_demo(tmp_path):
    """The real command: ``MEMOS_DEMO=1 memos serve`` answers as a demo instance and logs the warning."""
    env = procs.memos_env(tmp_path, MEMOS_DEMO="1", MEMOS_DATA=str(tmp_path))
    with procs.serve(tmp_path, env) as served:
        assert served.request("GET", "/api/v1/instance/profile").json()["demo"] is True
        r = served.request("POST", "/api/v1/users", {"username": "demo", "password": "secret"})
        assert r.status == 200, r.body
        r = served.request("POST", SIGNIN, {"passwordCredentials": {"username": "demo", "password": "secret"}})
        assert r.status == 200, r.body
        assert decode_with_demo_key(r.json()["accessToken"])["username"] == "demo"
        output = served.output()
    assert "WARNING" in output and "public key 'usememos'" in output
    assert (tmp_path / "memos_demo.db").exists() and not (tmp_path / "memos_prod.db").exists()
