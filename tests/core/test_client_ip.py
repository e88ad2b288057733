"""The client address: forwarded headers count only from a trusted proxy (``MEMOS_TRUSTED_PROXIES``),
so a client cannot dodge the per-address sign-in throttle or choose the address its session records."""

import dataclasses
import logging
import re

import pytest
from aiohttp.test_utils import TestServer

from memos_core.app import create_app
from memos_core.cli import main
from memos_core.clientip import resolve_client_ip
from memos_core.config import Config
from memos_core.context import CONTEXT
from memos_core.observe import AccessLogger
from memos_core.services import auth as auth_service
from memos_core.store import settings as settings_store

PER_IP = 20


@pytest.fixture
def proxied(aiohttp_client, memos_client, memos_config):
    """Factory: another app on the same database whose trusted proxies are ``trusted`` (by default the
    test client's peer, 127.0.0.1)."""

    async def make(trusted: str = "127.0.0.1"):
        return await aiohttp_client(create_app(dataclasses.replace(memos_config, trusted_proxies=trusted)))

    return make


@pytest.fixture
def no_burn(monkeypatch):
    async def no_burn():  # unknown users cost a cost-10 bcrypt each; not what these tests are about
        pass

    monkeypatch.setattr(auth_service, "burn_verification", no_burn)


async def signin(client, username, password, **headers):
    client.session.cookie_jar.clear()
    r = await client.post(
        "/api/v1/auth/signin",
        json={"passwordCredentials": {"username": username, "password": password}},
        headers=headers,
    )
    client.session.cookie_jar.clear()
    return r


async def stored_ips(client, user_id):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        value = await settings_store.get_user_setting(ctx.store, user_id, "REFRESH_TOKENS")
    return [e.get("clientInfo", {}).get("ipAddress") for e in value["refreshTokens"]]


# -- through the API --------------------------------------------------------------------------------
async def test_rotating_forwarded_headers_from_an_untrusted_peer_do_not_reset_the_throttle(
    memos_client, memos_users, no_burn
):
    alice = await memos_users("alice")
    for i in range(PER_IP):  # a new forged address every time, in both headers: all count as 127.0.0.1
        headers = {"X-Forwarded-For": f"198.51.100.{i}"} if i % 2 else {"X-Real-IP": f"203.0.113.{i}"}
        assert (await signin(memos_client, f"user{i}", "x", **headers)).status == 400
    for headers in ({}, {"X-Forwarded-For": "192.0.2.200"}, {"X-Real-IP": "192.0.2.201"}):
        r = await signin(memos_client, "alice", alice.password, **headers)
        assert r.status == 429, headers
        assert (await r.json())["code"] == 8 and int(r.headers["Retry-After"]) > 0


async def test_a_trusted_proxy_s_forwarded_addresses_are_counted_apart(proxied, memos_users, no_burn):
    alice = await memos_users("alice")
    client = await proxied()
    for i in range(PER_IP):
        assert (await signin(client, f"user{i}", "x", **{"X-Forwarded-For": "192.0.2.9"})).status == 400
    assert (await signin(client, "alice", alice.password, **{"X-Forwarded-For": "192.0.2.9"})).status == 429
    # Another client behind the same proxy has its own budget; X-Real-IP counts when XFF is absent.
    assert (await signin(client, "alice", alice.password, **{"X-Forwarded-For": "192.0.2.10"})).status == 200
    assert (await signin(client, "alice", alice.password, **{"X-Real-IP": "192.0.2.11"})).status == 200
    assert (await signin(client, "alice", alice.password, **{"X-Real-IP": "192.0.2.9"})).status == 429


async def test_a_spoofed_left_most_entry_does_not_help(proxied, memos_users, no_burn):
    alice = await memos_users("alice")
    client = await proxied()
    for i in range(PER_IP):  # the client writes a new address; the proxy appends the real one
        r = await signin(client, f"user{i}", "x", **{"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.9"})
        assert r.status == 400
    for forwarded in ("192.0.2.10, 192.0.2.9", "192.0.2.9", "unknown, 192.0.2.9"):
        r = await signin(client, "alice", alice.password, **{"X-Forwarded-For": forwarded})
        assert r.status == 429, forwarded


async def test_session_records_the_resolved_address(memos_client, proxied, memos_users):
    alice = await memos_users("alice")
    chain = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.1.2.3", "X-Real-IP": "6.6.6.7"}
    assert (await signin(memos_client, "alice", alice.password, **chain)).status == 200  # no proxy trusted
    assert (await signin(await proxied(), "alice", alice.password, **chain)).status == 200  # 127.0.0.1
    two_proxies = await proxied("127.0.0.1, 10.0.0.0/8")
    assert (await signin(two_proxies, "alice", alice.password, **chain)).status == 200
    assert await stored_ips(memos_client, alice.id) == ["127.0.0.1", "10.1.2.3", "203.0.113.7"]


async def test_refresh_records_the_resolved_address(memos_client, proxied, memos_users):
    alice = await memos_users("alice")
    client = await proxied()
    r = await signin(client, "alice", alice.password, **{"X-Forwarded-For": "203.0.113.7"})
    cookie = r.cookies["memos_refresh"].value
    r = await client.post(
        "/api/v1/auth/refresh",
        json={},
        headers={"Cookie": f"memos_refresh={cookie}", "X-Forwarded-For": "1.1.1.1, 2001:DB8:0::9"},
    )
    assert r.status == 200
    assert await stored_ips(memos_client, alice.id) == ["2001:db8::9"]


async def test_access_log_names_the_resolved_client(aiohttp_client, memos_client, memos_config, caplog):
    """``memos serve`` logs each request under the address the throttle counts, not the proxy's."""
    headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7", "User-Agent": "t/1"}
    for trusted, expected in (("127.0.0.1", "203.0.113.7"), ("", "127.0.0.1")):
        app = create_app(dataclasses.replace(memos_config, trusted_proxies=trusted))
        server = TestServer(app)
        await server.start_server(access_log_class=AccessLogger)  # as memos serve runs it
        client = await aiohttp_client(server)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            r = await client.get("/api/v1/memos?pageSize=1", headers=headers)
            assert r.status == 200
            assert (await client.get("/nowhere-at-all", headers=headers)).status == 404
        lines = [rec.getMessage() for rec in caplog.records if rec.name == "aiohttp.access"]
        assert lines[0].startswith(f'{expected} "GET /api/v1/memos?pageSize=1 HTTP/1.1" 200 '), lines
        assert all(re.search(r' "-" "t/1" route=\S+ duration_ms=\d+\.\d\d request_id=\w+$', line) for line in lines)
        assert lines[1].startswith(f'{expected} "GET /nowhere-at-all HTTP/1.1" 404 '), lines


# -- the resolver -----------------------------------------------------------------------------------
LOCAL = ("127.0.0.1/32",)
CHAIN = ("127.0.0.1/32", "10.0.0.0/8", "::1/128")


@pytest.mark.parametrize(
    ("peer", "forwarded", "real_ip", "trusted", "expected"),
    [
        # Nothing trusted: the peer, whatever the headers say.
        ("127.0.0.1", ["203.0.113.7"], "198.51.100.1", (), "127.0.0.1"),
        ("192.0.2.1", ["203.0.113.7"], None, LOCAL, "192.0.2.1"),  # a peer not on the list
        # One trusted proxy: the right-most entry is the address it saw.
        ("127.0.0.1", ["203.0.113.7"], None, LOCAL, "203.0.113.7"),
        ("127.0.0.1", ["6.6.6.6, 203.0.113.7"], None, LOCAL, "203.0.113.7"),
        ("127.0.0.1", ["6.6.6.6", "203.0.113.7"], None, LOCAL, "203.0.113.7"),  # two header lines
        # Trusted proxies further in are skipped, right to left.
        ("10.0.0.2", ["6.6.6.6, 203.0.113.7, 10.9.9.9"], None, CHAIN, "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7, 10.0.0.5, 127.0.0.1"], None, CHAIN, "203.0.113.7"),
        # Every hop trusted: the furthest one.
        ("127.0.0.1", ["10.0.0.5, 10.0.0.6"], None, CHAIN, "10.0.0.5"),
        # A malformed entry stops the walk at the last address a trusted proxy gave.
        ("127.0.0.1", ["whatever, 10.0.0.5"], None, CHAIN, "10.0.0.5"),
        ("127.0.0.1", ["unknown"], None, LOCAL, "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7, , 10.0.0.5"], None, CHAIN, "10.0.0.5"),
        # X-Real-IP only without X-Forwarded-For.
        ("127.0.0.1", [], "198.51.100.1", LOCAL, "198.51.100.1"),
        ("127.0.0.1", ["  "], "198.51.100.1", LOCAL, "198.51.100.1"),
        ("127.0.0.1", ["203.0.113.7"], "198.51.100.1", LOCAL, "203.0.113.7"),
        ("127.0.0.1", [], "not-an-ip", LOCAL, "127.0.0.1"),
        ("127.0.0.1", [], None, LOCAL, "127.0.0.1"),
        # Ports, brackets, zones and spellings: one canonical address.
        ("127.0.0.1", ["203.0.113.7:5678"], None, LOCAL, "203.0.113.7"),
        ("127.0.0.1", ["[2001:DB8:0:0::1]:443"], None, LOCAL, "2001:db8::1"),
        ("127.0.0.1", ['"[2001:db8::1]"'], None, LOCAL, "2001:db8::1"),
        ("127.0.0.1", ["fe80::1%eth0"], None, LOCAL, "fe80::1"),
        ("127.0.0.1", ["[2001:db8::1]x"], None, LOCAL, "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7:http"], None, LOCAL, "127.0.0.1"),
        # IPv6 proxies, and IPv4 peers seen through a dual-stack socket.
        ("::1", ["2001:db8::7"], None, CHAIN, "2001:db8::7"),
        ("::ffff:127.0.0.1", ["203.0.113.7"], None, LOCAL, "203.0.113.7"),
        ("::ffff:192.0.2.1", [], None, LOCAL, "192.0.2.1"),
        ("::1", ["203.0.113.7"], None, LOCAL, "::1"),  # ::1 is not 127.0.0.1
        # A unix socket peer has no address: trusted only when "unix" is listed.
        ("", ["203.0.113.7"], None, (), ""),
        ("", ["203.0.113.7"], None, ("unix",), "203.0.113.7"),
        ("", [], "198.51.100.1", ("unix",), "198.51.100.1"),
        ("", ["garbage"], None, ("unix",), ""),
        (None, ["203.0.113.7"], None, ("unix",), ""),
    ],
)
def test_resolve_client_ip(peer, forwarded, real_ip, trusted, expected):
    assert resolve_client_ip(peer, forwarded, real_ip, trusted) == expected


# -- configuration ----------------------------------------------------------------------------------
def test_trusted_proxies_setting_is_parsed_and_canonical():
    assert Config.from_env({}).trusted_proxies == ()
    config = Config.from_env({"MEMOS_TRUSTED_PROXIES": " 127.0.0.1, 10.1.2.3/8 ,,::1, FD00::/8,unix,127.0.0.1"})
    assert config.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8", "unix")
    assert dataclasses.replace(config, trusted_proxies="192.0.2.0/24").trusted_proxies == ("192.0.2.0/24",)


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "1.2.3", "::1/129", "127.0.0.1 10.0.0.1"])
def test_a_bad_trusted_proxy_entry_stops_the_server_from_starting(bad, monkeypatch, capsys, tmp_path):
    with pytest.raises(ValueError, match="MEMOS_TRUSTED_PROXIES"):
        Config(trusted_proxies=f"127.0.0.1,{bad}")
    monkeypatch.setenv("MEMOS_TRUSTED_PROXIES", f"127.0.0.1, {bad}")
    monkeypatch.setenv("MEMOS_DATA", str(tmp_path))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("memos: MEMOS_TRUSTED_PROXIES:") and repr(bad) in err
    assert list(tmp_path.iterdir()) == []  # nothing was started or created
