"""compose.yaml run for real with podman-compose, as a self-hoster runs ``docker compose up -d``.

memos-py comes up on PostgreSQL, a user signs up and writes a memo over the published port, the
memo outlives ``down`` and ``up`` (named volumes), and ``down -v`` removes everything. The memos
image is built by ``scripts/build-image.sh`` with the extras the image tests use (so podman's layer
cache serves the build when they ran first). No registry is reachable here: the PostgreSQL image
compose.yaml names is provided by ``scripts/postgres-image.sh``, a stand-in built from Debian's
PostgreSQL that starts as the official image does (it keeps a real image of that name if one was
pulled). A test-only override file gives the memos service that image and a free host port.

podman older than 4.6 makes podman-compose ignore ``depends_on: condition: service_healthy``, so
memos may start before PostgreSQL listens: start-up then waits for it (MEMOS_DB_CONNECT_TIMEOUT).
"""

from __future__ import annotations

import json
import os
import secrets
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
PROJECT = f"memos-compose-test-{RUN_ID}"
#: As tests/deploy/test_container_image.py builds its extras image: the same layers.
EXTRAS = "postgres,mysql,s3"
#: Seconds PostgreSQL starts late at the first ``up``: memos must wait for it (see the module's docstring).
POSTGRES_DELAY = 5

# A cold build of the memos image takes minutes (the suite's 180 s per test counts fixtures).
pytestmark = pytest.mark.timeout(900)


def run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run([str(CONTAINERS), "podman", *args], timeout)


def postgres_image() -> str:
    """The PostgreSQL image compose.yaml names."""
    text = (ROOT / "compose.yaml").read_text()
    return next(
        line.split()[1] for line in text.splitlines() if line.strip().startswith("image:") and "postgres" in line
    )


@pytest.fixture(scope="module")
def memos_image() -> Iterator[str]:
    """The memos image the override file names, and the PostgreSQL image under compose.yaml's name."""
    tag = f"localhost/memos-py-test:{RUN_ID}-compose"
    try:
        started = time.monotonic()
        built = run([str(ROOT / "scripts" / "build-image.sh"), "--tag", tag, "--extras", EXTRAS], 900)
        assert built.returncode == 0, f"build-image.sh:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
        print(f"memos image built in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        postgres = run([str(ROOT / "scripts" / "postgres-image.sh")], 600)
        assert postgres.returncode == 0, f"postgres-image.sh:\n{postgres.stdout[-3000:]}\n{postgres.stderr[-3000:]}"
        print(f"postgres image ready in {time.monotonic() - started:.0f} s")
        yield tag
    finally:
        podman("rmi", "--force", tag)


class Compose:
    """podman-compose on compose.yaml plus a test override, as one project with its own name."""

    def __init__(self, tmp_path: Path, image: str) -> None:
        self.override = tmp_path / "compose.test.yaml"
        self.image = image
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_", "MEMOS_"))}
        self.env = {**clean, "POSTGRES_PASSWORD": secrets.token_hex(12)}

    def write_override(self, port: int, postgres_delay: int = 0) -> None:
        """Publish memos on ``port``; with ``postgres_delay``, PostgreSQL's entrypoint starts that
        many seconds late (as a slow first initialisation would), so memos starts first."""
        self.base = f"http://127.0.0.1:{port}"
        # !override replaces the published ports (a plain list would be added to compose.yaml's).
        text = f'services:\n  memos:\n    image: {self.image}\n    ports: !override\n      - "127.0.0.1:{port}:5230"\n'
        if postgres_delay:
            info = json.loads(podman("image", "inspect", postgres_image()).stdout)[0]["Config"]
            entrypoint = ["sh", "-c", f'sleep {postgres_delay} && exec "$$@"', "delayed", *info["Entrypoint"]]
            text += f"  postgres:\n    entrypoint: {json.dumps(entrypoint)}\n    command: {json.dumps(info['Cmd'])}\n"
        self.override.write_text(text)

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        files = ["--file", str(ROOT / "compose.yaml"), "--file", str(self.override)]
        return run([str(CONTAINERS), "compose", "--project-name", PROJECT, *files, *args], timeout, self.env)

    def up(self) -> None:
        result = self("up", "-d")
        assert result.returncode == 0, f"up -d exited {result.returncode}:\n{result.stdout}\n{result.stderr}"

    def containers(self) -> dict[str, str]:
        """Service name → state of the project's containers."""
        listed = podman("ps", "--all", "--filter", f"label=io.podman.compose.project={PROJECT}", "--format", "json")
        return {c["Labels"]["io.podman.compose.service"]: c["State"] for c in json.loads(listed.stdout or "[]")}

    def volumes(self) -> list[str]:
        listed = podman(
            "volume", "ls", "--filter", f"label=io.podman.compose.project={PROJECT}", "--format", "{{.Name}}"
        )
        return listed.stdout.split()

    def logs(self, service: str) -> str:
        result = podman("logs", f"{PROJECT}_{service}_1")
        return result.stdout + result.stderr

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds until memos answers /healthz on the published port."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if call(self.base, "GET", "/healthz").status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"no answer from /healthz in {timeout} s; containers {self.containers()}\n"
            f"memos:\n{self.logs('memos')[-3000:]}\npostgres:\n{self.logs('postgres')[-3000:]}"
        )


def call(base: str, method: str, path: str, body: Any = None, token: str = "") -> procs.Response:
    return procs.request(base, method, path, body, token=token)


def sign_in(base: str) -> str:
    credentials = {"passwordCredentials": {"username": "admin", "password": "pw-admin"}}
    r = call(base, "POST", "/api/v1/auth/signin", credentials)
    assert r.status == 200, r.body
    return r.json()["accessToken"]


def test_compose_up_serves_memos_on_postgres_and_down_up_keeps_the_memo(memos_image, tmp_path):
    compose = Compose(tmp_path, memos_image)
    removed = False
    try:
        for _ in range(3):  # another process may take the free port before podman binds it
            port = procs.free_port()
            compose.write_override(port, postgres_delay=POSTGRES_DELAY)
            started = time.monotonic()
            result = compose("up", "-d")
            if result.returncode == 0:
                break
            output = result.stdout + result.stderr
            assert "address already in use" in output, f"up -d exited {result.returncode}:\n{output}"
            compose("down", "-v")
        else:
            raise AssertionError("no free port in 3 attempts")
        print(f"first up -d: {time.monotonic() - started:.1f} s, healthy after {compose.wait_healthy():.1f} s more")
        assert compose.containers() == {"memos": "running", "postgres": "running"}
        # memos started before PostgreSQL listened and waited for it instead of exiting.
        logs = compose.logs("memos")
        assert "waiting for the database" in logs and "connected to the database after" in logs, logs
        restarts = podman("inspect", "--format", "{{.RestartCount}}", f"{PROJECT}_memos_1").stdout.strip()
        assert restarts == "0", logs

        assert call(compose.base, "POST", "/api/v1/users", {"username": "admin", "password": "pw-admin"}).status == 200
        token = sign_in(compose.base)
        content = f"kept by the volumes {RUN_ID}"
        r = call(compose.base, "POST", "/api/v1/memos", {"content": content, "visibility": "PRIVATE"}, token)
        assert r.status == 200, r.body
        memo = r.json()["name"]
        # Written to the PostgreSQL service, not to a SQLite file in memos' volume.
        rows = podman(
            "exec",
            f"{PROJECT}_postgres_1",
            "psql",
            "--username=memos",
            "--dbname=memos",
            "-tAc",
            "SELECT content FROM memo",
        )
        assert rows.stdout.split("\n")[0] == content, rows.stdout + rows.stderr
        assert "Traceback" not in compose.logs("memos")

        started = time.monotonic()
        result = compose("down")
        assert result.returncode == 0, result.stderr
        print(f"down: {time.monotonic() - started:.1f} s")
        assert compose.containers() == {}
        assert len(compose.volumes()) == 2, compose.volumes()  # memos-data and postgres-data stay

        compose.write_override(port)  # PostgreSQL as compose.yaml starts it
        started = time.monotonic()
        compose.up()
        print(f"second up -d: {time.monotonic() - started:.1f} s, healthy after {compose.wait_healthy():.1f} s more")
        token = sign_in(compose.base)
        r = call(compose.base, "GET", f"/api/v1/{memo}", token=token)
        assert r.status == 200 and r.json()["content"] == content, r.body

        result = compose("down", "-v")
        assert result.returncode == 0, result.stderr
        removed = True
        assert compose.containers() == {}
        assert compose.volumes() == []
    finally:
        if not removed:
            compose("down", "-v")
