"""Two `memos serve` processes on one database behave as one instance (nothing authoritative lives in one process).

Runs on every driver under test (PostgreSQL and MariaDB when their servers are up; SQLite too, where
several processes share one file). Nothing authoritative may live in one process's memory: users,
settings and tokens written through one process are honoured by the other at once, and a scheduled
job runs once per slot however many processes are up.
"""

import time
from pathlib import Path

from fixtures import processes as procs

TICK_PLUGIN = """
import os, time
from memos_core import hookimpl

async def tick(app):
    with open(os.environ["MEMOS_TEST_TICK_FILE"], "a") as f:
        f.write(f"{os.getpid()} {time.time()}\\n")

@hookimpl
def memos_register_runners(register):
    register("test.tick", "* * * * * *", tick)
"""


def _env(tmp: Path, config, plugin_dir: Path, tick_file: Path) -> dict[str, str]:
    env = {"MEMOS_DRIVER": config.driver, "MEMOS_TEST_TICK_FILE": str(tick_file)}
    if config.dsn:
        env["MEMOS_DSN"] = config.dsn
    else:
        env["MEMOS_DATA"] = config.data
    return procs.memos_env(tmp, plugin_dir, **env)


def test_two_processes_share_users_settings_tokens_and_jobs(tmp_path, memos_config):
    plugin_dir = procs.make_distribution(
        tmp_path / "site",
        "memos-test-tick",
        "1.0",
        {"memos_test_tick.py": TICK_PLUGIN},
        {"memos.plugins": {"test-tick": "memos_test_tick"}},
    )
    tick_file = tmp_path / "ticks.log"
    env = _env(tmp_path, memos_config, plugin_dir, tick_file)
    # A starts first and creates the schema; B then opens the existing database.
    with procs.serve(tmp_path, env) as a, procs.serve(tmp_path, env) as b:
        started = time.monotonic()
        assert a.request("POST", "/api/v1/users", {"username": "admin", "password": "pw-admin"}).status == 200
        assert a.request("POST", "/api/v1/users", {"username": "bob", "password": "pw-bob"}).status == 200

        # A user created on A signs in on B.
        r = b.request(
            "POST", "/api/v1/auth/signin", {"passwordCredentials": {"username": "admin", "password": "pw-admin"}}
        )
        assert r.status == 200, r.body
        admin = {"Authorization": f"Bearer {r.json()['accessToken']}"}

        # A token made on A works on B; deleted on A, it stops working on B at once.
        r = a.request("POST", "/api/v1/users/bob/personalAccessTokens", {"description": "x"}, _bob_headers(a))
        assert r.status == 200, r.body
        pat, pat_name = r.json()["token"], r.json()["personalAccessToken"]["name"]
        bob = {"Authorization": f"Bearer {pat}"}
        assert b.request("GET", "/api/v1/auth/me", headers=bob).status == 200
        assert a.request("DELETE", f"/api/v1/{pat_name}", headers=bob).status == 200
        assert b.request("GET", "/api/v1/auth/me", headers=bob).status == 401

        # A memo written on B is read on A.
        r = b.request("POST", "/api/v1/memos", {"content": "from B #shared", "visibility": "PUBLIC"}, admin)
        assert r.status == 200, r.body
        name = r.json()["name"]
        assert a.request("GET", f"/api/v1/{name}").json()["content"] == "from B #shared"

        # A setting changed on A is enforced by B.
        general = {"generalSetting": {"disallowUserRegistration": True}}
        r = a.request("PATCH", "/api/v1/instance/settings/GENERAL", general, admin)
        assert r.status == 200, r.body
        assert b.request("POST", "/api/v1/users", {"username": "carol", "password": "pw"}).status == 403

        # A password changed on B no longer signs in on A; an archived user is refused on both.
        bob_session = _bob_headers(b)
        r = b.request("PATCH", "/api/v1/users/bob?updateMask=password", {"password": "new-pw"}, bob_session)
        assert r.status == 200, r.body
        old = {"passwordCredentials": {"username": "bob", "password": "pw-bob"}}
        assert a.request("POST", "/api/v1/auth/signin", old).status == 400
        r = a.request("PATCH", "/api/v1/users/bob?updateMask=state", {"state": "ARCHIVED"}, admin)
        assert r.status == 200, r.body
        assert b.request("GET", "/api/v1/auth/me", headers=bob_session).status == 401

        # Both schedulers run the every-second job; each slot runs once.
        while time.monotonic() - started < 6:
            time.sleep(0.2)
    lines = tick_file.read_text().splitlines()
    pids = {line.split()[0] for line in lines}
    assert len(lines) >= 3, lines
    stamps = sorted(float(line.split()[1]) for line in lines)
    # Once per second across both processes: no two runs in the same second.
    seconds = [int(s) for s in stamps]
    assert len(seconds) == len(set(seconds)), lines
    assert pids <= {str(a.proc.pid), str(b.proc.pid)}


def _bob_headers(served) -> dict[str, str]:
    r = served.request(
        "POST", "/api/v1/auth/signin", {"passwordCredentials": {"username": "bob", "password": "pw-bob"}}
    )
    assert r.status == 200, r.body
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}
