"""The plugin manager seen from outside: packages installed next to memos-py, the ``memos``
command and a served process."""

import json
import textwrap
from pathlib import Path

import pytest
from fixtures import processes as procs
from fixtures import upstream_db as upstream

HELLO = textwrap.dedent(
    '''
    """A third-party plugin: a route, an async event listener."""
    import os

    from aiohttp import web

    from memos_core import CONTEXT, Event, hookimpl


    async def hello(request):
        return web.json_response({"hello": "from memos-hello"})


    async def emit(request):
        await request.app[CONTEXT].emit(Event(name="memos.test.ping", resource={"n": 1}))
        return web.json_response({})


    @hookimpl
    def memos_register_routes(app):
        app.router.add_get("/hello", hello)
        app.router.add_post("/hello/emit", emit)


    @hookimpl
    async def memos_on_event(app, event):
        with open(os.environ["HELLO_EVENTS"], "a") as f:
            f.write(event.name + "\\n")
    '''
)
OTHER = textwrap.dedent(
    """
    from memos_core import hookimpl


    class Plugin:
        @hookimpl
        def memos_register_runners(self, register):
            pass
    """
)


@pytest.fixture
def site(tmp_path) -> Path:
    """A directory of installed plugin distributions: memos-hello 1.2.3 and memos-other 0.4."""
    root = tmp_path / "site"
    procs.make_distribution(
        root, "memos-hello", "1.2.3", {"memos_hello/__init__.py": HELLO}, {"memos.plugins": {"hello": "memos_hello"}}
    )
    procs.make_distribution(
        root, "memos-other", "0.4", {"memos_other.py": OTHER}, {"memos.plugins": {"other": "memos_other:Plugin"}}
    )
    return root


def plugins_json(tmp_path, site, **env):
    r = procs.run_memos("plugins", "--json", env=procs.memos_env(tmp_path, site, **env))
    assert r.returncode == 0, r.stderr
    return {p["name"]: p for p in json.loads(r.stdout)}


def test_installed_plugin_is_discovered_with_distribution_version_and_hooks(tmp_path, site):
    listed = plugins_json(tmp_path, site)
    assert listed["hello"] == {
        "name": "hello",
        "distribution": "memos-hello",
        "version": "1.2.3",
        "kind": "plugin",
        "hooks": ["memos_on_event", "memos_register_routes"],
    }
    assert listed["other"]["distribution"] == "memos-other"
    assert listed["other"]["hooks"] == ["memos_register_runners"]
    assert listed["sqlite"]["kind"] == "driver" and listed["sqlite"]["distribution"] == "memos-driver-sqlite"
    assert listed["core-auth"]["distribution"] == "memos-server"
    # The human-readable form names the same things.
    r = procs.run_memos("plugins", env=procs.memos_env(tmp_path, site))
    assert r.returncode == 0
    assert any(line.split()[:4] == ["plugin", "hello", "memos-hello", "1.2.3"] for line in r.stdout.splitlines())


def test_served_process_runs_plugin_hooks_and_lists_plugins_for_admins_only(tmp_path, site):
    db = upstream.build(tmp_path / "memos.db")
    events = tmp_path / "events.txt"
    env = procs.memos_env(tmp_path, site, HELLO_EVENTS=str(events))
    with procs.serve(tmp_path, env, "--dsn", str(db)) as srv:
        r = srv.request("GET", "/hello")
        assert r.status == 200 and r.json() == {"hello": "from memos-hello"}
        assert srv.request("POST", "/hello/emit", {}).status == 200
        assert events.read_text().splitlines() == ["memos.test.ping"]

        assert srv.request("GET", "/api/v1/plugins").status == 401
        user = {"Authorization": f"Bearer {upstream.USER_PAT}"}
        r = srv.request("GET", "/api/v1/plugins", headers=user)
        assert r.status == 403 and r.json()["code"] == 7
        admin = {"Authorization": f"Bearer {upstream.ADMIN_PAT}"}
        r = srv.request("GET", "/api/v1/plugins", headers=admin)
        assert r.status == 200
        body = r.json()
    assert body["hookspecVersion"] >= 1
    assert "hook memos_" not in srv.output()  # hook calls are traced only on request
    assert body["plugins"] == list(plugins_json(tmp_path, site).values())


def test_broken_plugin_stops_start_up_naming_its_distribution(tmp_path, site):
    procs.make_distribution(
        site,
        "memos-broken",
        "9.9",
        {"memos_broken.py": "import a_module_that_is_not_installed\n"},
        {"memos.plugins": {"broken": "memos_broken"}},
    )
    port = str(procs.free_port())
    r = procs.run_memos("serve", "--port", port, "--data", str(tmp_path), env=procs.memos_env(tmp_path, site))
    assert r.returncode != 0
    assert "memos-broken" in r.stderr and "a_module_that_is_not_installed" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "memos_prod.db").exists()  # nothing was opened


def test_typo_in_hook_name_fails_check_pending(tmp_path, site):
    typo = "from memos_core import hookimpl\n\n\n@hookimpl\ndef memos_on_evnt(app, event):\n    pass\n"
    procs.make_distribution(
        site, "memos-typo", "0.1", {"memos_typo.py": typo}, {"memos.plugins": {"typo": "memos_typo"}}
    )
    r = procs.run_memos("plugins", env=procs.memos_env(tmp_path, site))
    assert r.returncode == 1
    assert "memos_on_evnt" in r.stderr and "memos-typo" in r.stderr


def test_allowlist_keeps_core_plugins_and_the_named_ones(tmp_path, site):
    listed = plugins_json(tmp_path, site, MEMOS_PLUGINS="hello")
    assert set(listed) == {"sqlite", "core", "core-auth", "core-storage", "hello"}
    listed = plugins_json(tmp_path, site, MEMOS_PLUGINS="hello, other")
    assert {"hello", "other"} <= set(listed) and "markdown" not in listed
    # A name that is not installed is a typo, not a silent no-op.
    r = procs.run_memos("plugins", env=procs.memos_env(tmp_path, site, MEMOS_PLUGINS="helo"))
    assert r.returncode == 1 and "helo" in r.stderr


def test_blocklist_drops_the_named_plugins_without_importing_them(tmp_path, site):
    procs.make_distribution(
        site,
        "memos-broken",
        "9.9",
        {"memos_broken.py": "raise ImportError('boom')\n"},
        {"memos.plugins": {"broken": "memos_broken"}},
    )
    listed = plugins_json(tmp_path, site, MEMOS_DISABLE_PLUGINS="hello,markdown,broken")
    assert "hello" not in listed and "markdown" not in listed and "broken" not in listed
    assert {"sqlite", "core-auth", "other", "filter"} <= set(listed)


def test_trace_logs_hook_calls(tmp_path, site):
    db = upstream.build(tmp_path / "memos.db")
    env = procs.memos_env(tmp_path, site, MEMOS_TRACE_PLUGINS="1", HELLO_EVENTS=str(tmp_path / "e.txt"))
    with procs.serve(tmp_path, env, "--dsn", str(db)) as srv:
        srv.request("GET", "/api/v1/memos")
        srv.request("POST", "/hello/emit", {})
    out = srv.output()
    assert "hook memos_register_routes" in out
    assert "hook memos_authenticate" in out


def test_unknown_driver_fails_with_a_clear_message(tmp_path):
    env = procs.memos_env(tmp_path, MEMOS_DRIVER="oracle")
    r = procs.run_memos("serve", "--port", str(procs.free_port()), "--data", str(tmp_path), env=env)
    assert r.returncode == 1
    assert "no database driver named 'oracle'" in r.stderr and "sqlite" in r.stderr
    r = procs.run_memos("plugins", "--driver", "oracle", env=procs.memos_env(tmp_path))
    assert r.returncode == 1 and "oracle" in r.stderr


# -- registries: collected once, duplicates refused naming both distributions, inspectable ----------
TWIN = textwrap.dedent(
    """
    from memos_core import hookimpl


    async def job(app):
        pass


    @hookimpl
    def {hook}(register):
        register({args})
    """
)
TWINS = {
    "memos_register_storage": ('"TWIN", object()', "two storage backends are named 'TWIN'"),
    "memos_register_auth_providers": ('"twinCredentials", job', "two sign-in providers are named 'twinCredentials'"),
    "memos_register_runners": ('"twin.job", "@hourly", job', "two scheduled jobs are named 'twin.job'"),
    "memos_register_search_modes": ('"twin", object()', "two search modes are named 'twin'"),
}


def add_registering(site: Path, dist: str, version: str, hook: str, args: str) -> None:
    module = dist.replace("-", "_")
    procs.make_distribution(
        site,
        dist,
        version,
        {f"{module}.py": TWIN.format(hook=hook, args=args)},
        {"memos.plugins": {dist.removeprefix("memos-"): module}},
    )


@pytest.mark.parametrize("hook", sorted(TWINS))
def test_a_name_registered_by_two_distributions_stops_start_up_naming_both(tmp_path, site, hook):
    args, message = TWINS[hook]
    add_registering(site, "memos-twin-a", "1.0", hook, args)
    add_registering(site, "memos-twin-b", "2.0", hook, args)
    env = procs.memos_env(tmp_path, site)
    r = procs.run_memos("plugins", env=env)
    assert r.returncode == 1, r.stdout
    assert message in r.stderr
    assert "memos-twin-a 1.0" in r.stderr and "memos-twin-b 2.0" in r.stderr
    r = procs.run_memos("serve", "--port", str(procs.free_port()), "--data", str(tmp_path), env=env)
    assert r.returncode == 1
    assert message in r.stderr and "memos-twin-a 1.0" in r.stderr and "memos-twin-b 2.0" in r.stderr
    assert "Traceback" not in r.stderr


def test_plugins_command_shows_what_each_plugin_registered(tmp_path, site):
    listed = plugins_json(tmp_path, site)
    assert listed["core"]["kind"] == "core" and listed["core"]["distribution"] == "memos-server"
    assert listed["core"]["registered"] == {"runners": ["attachment-orphans"]}
    assert listed["core-storage"]["registered"] == {"storage": ["LOCAL", "DATABASE"]}
    assert listed["core-auth"]["registered"] == {"auth providers": ["passwordCredentials", "ssoCredentials"]}
    assert "registered" not in listed["other"]  # implements the hook, registers nothing
    r = procs.run_memos("plugins", env=procs.memos_env(tmp_path, site))
    lines = [line.split() for line in r.stdout.splitlines()]
    core = next(i for i, line in enumerate(lines) if line[:2] == ["core", "core"])
    assert lines[core + 1] == ["runners:", "attachment-orphans"]
    storage = next(i for i, line in enumerate(lines) if line[:2] == ["plugin", "core-storage"])
    assert lines[storage + 1] == ["storage:", "LOCAL,", "DATABASE"]


def test_a_plugin_replaces_a_name_the_core_registers(tmp_path, site):
    add_registering(site, "memos-password", "3.1", "memos_register_auth_providers", '"passwordCredentials", job')
    listed = plugins_json(tmp_path, site)
    assert listed["password"]["registered"] == {"auth providers": ["passwordCredentials"]}
    assert listed["core-auth"]["registered"] == {"auth providers": ["ssoCredentials"]}
    r = procs.run_memos("plugins", env=procs.memos_env(tmp_path, site))
    assert "auth providers: passwordCredentials (replaces core-auth's)" in r.stdout
    # A second plugin claiming it too is a conflict between the two plugins.
    add_registering(site, "memos-password-too", "0.2", "memos_register_auth_providers", '"passwordCredentials", job')
    r = procs.run_memos("plugins", env=procs.memos_env(tmp_path, site))
    assert r.returncode == 1
    assert "memos-password 3.1" in r.stderr and "memos-password-too 0.2" in r.stderr


# -- the hook-spec version a plugin needs ---------------------------------------------------------------
def add_requiring(site: Path, dist: str, required: str) -> None:
    module = dist.replace("-", "_")
    text = f"from memos_core import hookimpl\n\nMEMOS_HOOKSPEC = {required}\n\n\n"
    text += "@hookimpl\ndef memos_register_routes(app):\n    pass\n"
    procs.make_distribution(
        site, dist, "5.0", {f"{module}.py": text}, {"memos.plugins": {dist.removeprefix("memos-"): module}}
    )


def test_plugin_needing_a_newer_hookspec_stops_start_up_naming_its_distribution(tmp_path, site):
    from memos_core import HOOKSPEC_VERSION

    add_requiring(site, "memos-future", str(HOOKSPEC_VERSION + 1))
    env = procs.memos_env(tmp_path, site)
    r = procs.run_memos("serve", "--port", str(procs.free_port()), "--data", str(tmp_path), env=env)
    assert r.returncode == 1
    assert "memos-future 5.0" in r.stderr
    assert f"needs hook-spec version {HOOKSPEC_VERSION + 1}" in r.stderr
    assert f"provides version {HOOKSPEC_VERSION}" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "memos_prod.db").exists()  # nothing was opened
    r = procs.run_memos("plugins", env=env)
    assert r.returncode == 1 and "memos-future 5.0" in r.stderr


def test_plugin_declaring_the_current_hookspec_loads_and_a_bad_declaration_is_refused(tmp_path, site):
    from memos_core import HOOKSPEC_VERSION

    add_requiring(site, "memos-current", str(HOOKSPEC_VERSION))
    assert "current" in plugins_json(tmp_path, site)
    add_requiring(site, "memos-vague", '"1"')
    r = procs.run_memos("plugins", env=procs.memos_env(tmp_path, site))
    assert r.returncode == 1
    assert "memos-vague 5.0" in r.stderr and "MEMOS_HOOKSPEC = '1'" in r.stderr
