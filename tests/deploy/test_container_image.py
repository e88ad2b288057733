"""The container image as a self-hoster runs it: `docker run -v DATA:/var/opt/memos -p 5230:5230`.

The image is built here as CI builds it, by ``scripts/build-image.sh`` (podman, a Debian base made
with debootstrap, the locked wheelhouse), and run with podman. A memo written over HTTP outlives a
SIGTERM stop, a new container and an upgrade to another build of the image, on every driver under
test (PostgreSQL and MariaDB are the host's test servers, reached with ``--network host``; the
drivers come from the image's ``EXTRAS``). The builds are module fixtures: this module is the only
one that builds, and pytest-xdist's ``--dist loadfile`` gives it to one worker.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures import processes as procs

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "scripts" / "containers.sh"
RUN_ID = uuid.uuid4().hex[:8]
UID = 10001  # the image's user (the Containerfile, the entrypoint)
SIZE_GOAL = 200_000_000  # bytes: the default image must stay under 200 MB
EXTRAS = "postgres,mysql,s3"
#: The test images' name; tags default, extras and upgrade.
TAG = "localhost/memos-py-test"

# A cold first build (a Debian base, the wheelhouse, two images) takes about four minutes: the
# suite's 180 s per test, which counts fixtures, is too short for the test that sets them up.
pytestmark = pytest.mark.timeout(900)


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """podman with this machine's configuration (scripts/containers.sh)."""
    result = subprocess.run(
        [str(CONTAINERS), "podman", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def build(tag: str, *args: str) -> float:
    """Build the image with the project's script; the seconds it took."""
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), "--tag", tag, *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"scripts/build-image.sh failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return time.monotonic() - started


def image_id(tag: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    """The default image, and one with every optional driver (another build of the same Containerfile)."""
    tags = {
        "default": f"localhost/memos-py-test:{RUN_ID}-default",
        "extras": f"localhost/memos-py-test:{RUN_ID}-extras",
    }
    try:
        seconds = build(tags["default"])
        print(f"default image built in {seconds:.0f} s")
        seconds = build(tags["extras"], "--extras", EXTRAS)
        print(f"image with {EXTRAS} built in {seconds:.0f} s")
        yield tags
    finally:
        podman("rm", "--force", "--filter", f"label=memos-test={RUN_ID}", check=False)
        podman("rmi", "--force", *tags.values(), f"localhost/memos-py-test:{RUN_ID}-upgrade", check=False)


@pytest.fixture(scope="module")
def rebuilt_extras_image(images) -> str:
    """The extras image built again as a new release would be (a new label, so a new image)."""
    tag = f"{TAG}:upgrade"
    build(tag, "--extras", EXTRAS, "--", "--label", f"memos-test-release={RUN_ID}")
    return tag


def call(base: str, method: str, path: str, body: Any = None, token: str = "") -> procs.Response:
    return procs.request(base, method, path, body, token=token)


class Container:
    """A detached container of the image, serving on a free host port.

    With ``host_network`` it shares the host's network (to reach the test database servers) and is
    told its port with ``MEMOS_ADDR``/``MEMOS_PORT``; otherwise its ``MEMOS_PORT`` (5230 unless
    ``env`` says otherwise) is published on 127.0.0.1, as ``docker run -p`` does.
    """

    def __init__(
        self,
        image: str,
        data: Path,
        env: dict[str, str],
        *,
        host_network: bool = False,
        mounts: tuple[tuple[Path, str], ...] = (),
    ) -> None:
        self.name = f"memos-test-{RUN_ID}-{uuid.uuid4().hex[:6]}"
        for _ in range(3):  # a parallel test may take the free port before podman binds it
            port = procs.free_port()
            args = ["run", "--detach", "--name", self.name, "--label", f"memos-test={RUN_ID}"]
            args += ["--volume", f"{data}:/var/opt/memos"]
            args += [arg for source, target in mounts for arg in ("--volume", f"{source}:{target}:ro")]
            if host_network:
                args += ["--network", "host", "--env", "MEMOS_ADDR=127.0.0.1", "--env", f"MEMOS_PORT={port}"]
            else:
                args += ["--publish", f"127.0.0.1:{port}:{env.get('MEMOS_PORT', '5230')}"]
            args += [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
            started = podman(*args, image, check=False)
            if started.returncode == 0:
                break
            podman("rm", "--force", self.name, check=False)
            assert "address already in use" in started.stderr, started.stderr
        else:
            raise AssertionError("no free port in 3 attempts")
        self.base = f"http://127.0.0.1:{port}"
        self.wait_ready()

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if call(self.base, "GET", "/healthz").status == 200:
                    return
            except OSError:
                pass
            state = podman("inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()
            assert state == "running", f"the container is {state}:\n{self.logs()}"
            time.sleep(0.2)
        raise AssertionError(f"no answer from /healthz in {timeout} s:\n{self.logs()}")

    def pid1(self) -> dict[str, str]:
        """The fields of /proc/1/status, the process the runtime signals."""
        status = podman("exec", self.name, "cat", "/proc/1/status").stdout
        return dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)

    def stop(self) -> tuple[int, float]:
        """SIGTERM, as `docker stop` sends it; the exit code and the seconds until the container ended."""
        started = time.monotonic()
        podman("kill", "--signal", "TERM", self.name)
        code = int(podman("wait", self.name, timeout=60).stdout.strip())
        return code, time.monotonic() - started


def sign_in(base: str) -> str:
    r = call(
        base, "POST", "/api/v1/auth/signin", {"passwordCredentials": {"username": "admin", "password": "pw-admin"}}
    )
    assert r.status == 200, r.body
    return r.json()["accessToken"]


def test_the_default_image_is_small_and_declares_how_it_runs(images):
    tag = images["default"]
    info = json.loads(podman("image", "inspect", tag).stdout)[0]
    print(f"default image: {info['Size'] / 1e6:.0f} MB")
    assert info["Size"] < SIZE_GOAL, f"{info['Size'] / 1e6:.0f} MB"
    config = info["Config"]
    assert "5230/tcp" in config["ExposedPorts"]
    assert "/var/opt/memos" in config["Volumes"]
    assert "MEMOS_DATA=/var/opt/memos" in config["Env"]
    assert config["StopSignal"] in ("SIGTERM", "15")
    assert "memos-healthcheck.py" in " ".join(info["Healthcheck"]["Test"])
    # The default plugins, no optional driver; the extras build adds the drivers it names.
    listed = podman("run", "--rm", tag, "memos", "plugins").stdout
    for name in ("sqlite", "markdown", "filter", "scheduler", "web", "email", "httpgetter"):
        assert f" {name} " in listed, listed
    assert " storage-s3 " not in listed
    # The extras build adds what it names (the drivers themselves serve in the next test).
    listed = podman("run", "--rm", images["extras"], "memos", "plugins").stdout
    assert " storage-s3 " in listed, listed
    installed = "from importlib.metadata import distributions; print(sorted(d.name for d in distributions()))"
    default = podman("run", "--rm", tag, "python3", "-c", installed).stdout
    extras = podman("run", "--rm", images["extras"], "python3", "-c", installed).stdout
    for name in ("memos-driver-postgres", "memos-driver-mysql", "memos-storage-s3"):
        assert name not in default and name in extras, (default, extras)
    assert "pip" not in default.split("'")  # an image has no use for an installer


def test_a_memo_survives_sigterm_a_new_container_and_an_upgrade(images, memos_config, tmp_path, request):
    server = memos_config.driver != "sqlite"
    env = {"MEMOS_DRIVER": memos_config.driver, "MEMOS_DSN": memos_config.dsn} if server else {}
    # SQLite: the default image, then the image with the extras (a new venv). The servers need a
    # driver from the extras: that image, then its rebuild.
    if server:
        first, upgrade = images["extras"], request.getfixturevalue("rebuilt_extras_image")
    else:
        first, upgrade = images["default"], images["extras"]
    assert image_id(upgrade) != image_id(first)
    # A folder made by root, as `docker run -v ~/.memos:...` or upstream's image left it: the
    # entrypoint hands it to the image's user.
    data = tmp_path / "volume"
    data.mkdir()
    (data / "left-by-root.txt").write_text("x")

    c1 = Container(first, data, env, host_network=server)
    assert call(c1.base, "POST", "/api/v1/users", {"username": "admin", "password": "pw-admin"}).status == 200
    token = sign_in(c1.base)
    r = call(c1.base, "POST", "/api/v1/memos", {"content": "kept #across-upgrades", "visibility": "PRIVATE"}, token)
    assert r.status == 200, r.body
    memo = r.json()["name"]
    # The server is PID 1 (it gets the runtime's SIGTERM itself) and runs as the image's user.
    status = c1.pid1()
    assert status["Uid"].split() == [str(UID)] * 4, status["Uid"]
    assert status["Gid"].split() == [str(UID)] * 4, status["Gid"]
    assert status["NoNewPrivs"].strip() == "1"
    cmdline = podman("exec", c1.name, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert cmdline[1:3] == ["/opt/memos/bin/memos", "serve"], cmdline
    assert all(p.stat().st_uid == UID for p in [data, *data.iterdir()]), [
        (p.name, p.stat().st_uid) for p in data.iterdir()
    ]
    assert podman("healthcheck", "run", c1.name, check=False).returncode == 0, c1.logs()

    code, seconds = c1.stop()
    assert code == 0, c1.logs()
    assert seconds < 10, f"stopping took {seconds:.1f} s"
    assert "Traceback" not in c1.logs()

    # A new container on the same volume; told another port, the server and the healthcheck follow.
    c2 = Container(first, data, env if server else {"MEMOS_PORT": "5231"}, host_network=server)
    token = sign_in(c2.base)
    r = call(c2.base, "GET", f"/api/v1/{memo}", token=token)
    assert r.status == 200 and r.json()["content"] == "kept #across-upgrades", r.body
    assert podman("healthcheck", "run", c2.name, check=False).returncode == 0, c2.logs()
    assert c2.stop()[0] == 0, c2.logs()

    # The upgrade: another image on the same volume and database.
    c3 = Container(upgrade, data, env, host_network=server)
    token = sign_in(c3.base)
    r = call(c3.base, "GET", f"/api/v1/{memo}", token=token)
    assert r.status == 200 and r.json()["content"] == "kept #across-upgrades", r.body
    assert c3.stop()[0] == 0, c3.logs()


def test_memos_dsn_file_is_read_and_never_together_with_memos_dsn(images, tmp_path):
    data = tmp_path / "volume"
    data.mkdir()
    secret = tmp_path / "dsn"
    secret.write_text("/var/opt/memos/from-secret.db\n")
    c = Container(
        images["default"], data, {"MEMOS_DSN_FILE": "/run/secrets/dsn"}, mounts=((secret, "/run/secrets/dsn"),)
    )
    assert (data / "from-secret.db").exists()
    assert not (data / "memos_prod.db").exists()
    assert c.stop()[0] == 0

    both = podman(
        "run", "--rm", "--env", "MEMOS_DSN=x", "--env", "MEMOS_DSN_FILE=/dev/null", images["default"], check=False
    )
    assert both.returncode == 1
    assert "set MEMOS_DSN or MEMOS_DSN_FILE, not both" in both.stderr
