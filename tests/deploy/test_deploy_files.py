"""compose.yaml and deploy/memos.service, checked by the tools that read them.

compose.yaml goes through podman-compose's own parser (``config``: interpolation, profiles, merged
model), and the model it gives is what these tests check: memos-py on PostgreSQL, with volumes,
health checks and restart policies, and the S3 store only under its profile. The unit goes through
``systemd-analyze verify`` (no running systemd needed) in a scratch root where /opt/memos/bin/memos
exists, as it would after the install its header describes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "scripts" / "containers.sh"
UNIT = ROOT / "deploy" / "memos.service"
HOST_UNITS = Path("/lib/systemd/system")


def compose_config(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``podman-compose [ARGS] config`` on the project's compose.yaml, with only ``env`` set of its variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "MINIO_", "MEMOS_"))}
    return subprocess.run(
        [str(CONTAINERS), "compose", "--file", str(ROOT / "compose.yaml"), *args, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        cwd=ROOT,
    )


def model(*args: str) -> dict:
    result = compose_config(*args, POSTGRES_PASSWORD="pw4test", MINIO_ROOT_PASSWORD="pw4minio")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_runs_memos_on_postgres_with_volumes_health_checks_and_restarts():
    services = model()["services"]
    assert set(services) == {"memos", "postgres"}  # the S3 store only with its profile
    memos, postgres = services["memos"], services["postgres"]

    assert memos["build"]["dockerfile"] == "Containerfile"
    assert Path(memos["build"]["context"]) == ROOT
    extras = dict(arg.split("=", 1) for arg in memos["build"]["args"])["EXTRAS"].split(",")
    assert "postgres" in extras and "s3" in extras
    assert memos["environment"]["MEMOS_DRIVER"] == "postgres"
    # The DSN names the postgres service and the credentials it is started with.
    pg_env = postgres["environment"]
    assert memos["environment"]["MEMOS_DSN"] == (
        f"postgresql://{pg_env['POSTGRES_USER']}:pw4test@postgres:5432/{pg_env['POSTGRES_DB']}"
    )
    assert pg_env["POSTGRES_PASSWORD"] == "pw4test"
    assert memos["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert memos["ports"] == ["5230:5230"]

    assert "memos-data:/var/opt/memos" in memos["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert {"memos-data", "postgres-data"} <= set(model()["volumes"])
    for service in (memos, postgres):
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"][0] == "CMD"
    # The same check as the image's HEALTHCHECK.
    assert memos["healthcheck"]["test"][1:] == ["python3", "/usr/local/lib/memos-healthcheck.py"]
    assert "/usr/local/lib/memos-healthcheck.py" in (ROOT / "Containerfile").read_text()
    assert postgres["healthcheck"]["test"][1] == "pg_isready"


def test_the_s3_profile_adds_a_store_and_makes_its_bucket():
    services = model("--profile", "s3")["services"]
    assert set(services) == {"memos", "postgres", "s3", "s3-bucket"}
    assert services["s3"]["volumes"] == ["s3-data:/data"]
    assert services["s3"]["environment"]["MINIO_ROOT_PASSWORD"] == "pw4minio"
    assert "healthcheck" in services["s3"]
    bucket = services["s3-bucket"]
    assert bucket["depends_on"] == {"s3": {"condition": "service_healthy"}}
    assert "mb --ignore-existing store/memos" in " ".join(bucket["command"])


def test_compose_refuses_to_start_without_a_database_password():
    result = compose_config()
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def verify_unit(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    """``systemd-analyze verify`` of a unit in a scratch root holding the host's units and /opt/memos/bin/memos."""
    root = tmp_path / "root"
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    memos = root / "opt/memos/bin/memos"
    memos.parent.mkdir(parents=True)
    memos.write_text("#!/bin/sh\n")
    memos.chmod(0o755)
    unit = root / "etc/systemd/system/memos.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(text)
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", str(unit)], capture_output=True, text=True, timeout=60
    )


def test_the_service_unit_passes_systemd_analyze_verify(tmp_path):
    result = verify_unit(tmp_path, UNIT.read_text())
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path):
    broken = (
        UNIT.read_text().replace("KillMode=mixed", "KillMode=gently").replace("ExecStart=/opt/", "ExecStart=/nowhere/")
    )
    result = verify_unit(tmp_path, broken)
    output = result.stdout + result.stderr
    assert "gently" in output and "/nowhere/memos" in output, output


def directives(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit (a key may repeat), comments left out."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_service_unit_runs_memos_from_opt_as_its_own_user_hardened():
    found = directives(UNIT.read_text())
    expected = {
        "User": "memos",
        "Group": "memos",
        "ExecStart": "/opt/memos/bin/memos serve",
        "StateDirectory": "memos",  # systemd makes /var/lib/memos, the user's and the one writable place
        "WorkingDirectory": "/var/lib/memos",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "KillMode": "mixed",  # SIGTERM to `memos serve` alone: it stops its workers itself
        "Restart": "on-failure",
    }
    assert {key: found.get(key) for key in expected} == {key: [value] for key, value in expected.items()}
    assert "MEMOS_DATA=/var/lib/memos" in " ".join(found["Environment"]).split()
