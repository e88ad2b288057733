"""Process configuration: ``memos serve`` flags and ``MEMOS_*`` environment variables, as upstream reads them.

An explicitly set flag beats the environment, and the environment beats the default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

DRIVERS = ("sqlite", "mysql", "postgres")
#: The ``MEMOS_TRUSTED_PROXIES`` entry that trusts whatever connects over the unix socket.
UNIX_PEER = "unix"


def parse_log_format(value: str) -> str:
    """``MEMOS_LOG_FORMAT``: ``text`` (the default) or ``json`` (one JSON object per line)."""
    log_format = value.strip().lower() or "text"
    if log_format not in ("text", "json"):
        raise ValueError(f"MEMOS_LOG_FORMAT: expected text or json, not {value!r}")
    return log_format


def parse_metrics(value: str) -> str:
    """``MEMOS_METRICS``: ``loopback`` (the default), ``off``, or ``token:<secret>`` (the bearer token
    ``GET /metrics`` then requires; the secret is at least 16 characters, none of them space)."""
    rule = value.strip() or "loopback"
    if rule in ("loopback", "off"):
        return rule
    secret = rule.removeprefix("token:")
    if rule.startswith("token:") and len(secret) >= 16 and not any(c.isspace() for c in secret):
        return rule
    raise ValueError("MEMOS_METRICS: expected loopback, off or token:<secret of at least 16 characters, no spaces>")


def parse_trusted_proxies(value: str | Iterable[str]) -> tuple[str, ...]:
    """``MEMOS_TRUSTED_PROXIES`` (comma-separated, or already split) as canonical network strings.

    Each entry is an IPv4/IPv6 address (a one-address network), a CIDR network (host bits are
    masked off: ``10.1.2.3/8`` is ``10.0.0.0/8``) or ``unix``. A bad entry raises ``ValueError``
    naming it, which ``memos serve`` reports before it starts.
    """
    entries = value.split(",") if isinstance(value, str) else value
    parsed: list[str] = []
    for raw in entries:
        entry = raw.strip() if isinstance(raw, str) else raw
        if entry == "":
            continue
        if entry == UNIX_PEER:
            parsed.append(UNIX_PEER)
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except (TypeError, ValueError):
            raise ValueError(
                f"MEMOS_TRUSTED_PROXIES: {entry!r} is not an IP address, a CIDR network or {UNIX_PEER!r}"
            ) from None
        parsed.append(str(network))
    return tuple(dict.fromkeys(parsed))


def _whole_number(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a whole number") from None


@dataclasses.dataclass(frozen=True)
class Config:
    port: int = 5230
    addr: str = ""
    data: str = ""
    driver: str = "sqlite"
    dsn: str = ""
    mode: str = "prod"  # "prod" | "demo" | "dev"; demo uses memos_demo.db and the secret "usememos"
    instance_url: str = ""
    unix_sock: str = ""
    allow_private_webhooks: bool = False
    plugins: tuple[str, ...] | None = None  # MEMOS_PLUGINS allowlist (None = every installed plugin)
    disable_plugins: tuple[str, ...] = ()  # MEMOS_DISABLE_PLUGINS blocklist
    #: MEMOS_METRICS: who may read GET /metrics (see memos_core.observe); not in repr (it may hold a token)
    metrics: str = dataclasses.field(default="loopback", repr=False)
    log_format: str = "text"  # MEMOS_LOG_FORMAT: text or json (one JSON object per line)
    trace_plugins: bool = False  # MEMOS_TRACE_PLUGINS=1 logs every hook call
    live_poll_interval: float = 0.5  # MEMOS_LIVE_POLL_INTERVAL: seconds between looks for other instances' events
    live_heartbeat: float = 30.0  # seconds between SSE heartbeats, as upstream sends them
    #: MEMOS_TRUSTED_PROXIES: peers whose X-Forwarded-For / X-Real-IP are believed (see memos_core.clientip)
    trusted_proxies: tuple[str, ...] = ()
    workers: int = 1  # MEMOS_WORKERS: server processes sharing the listening socket (see memos_core.workers)
    #: MEMOS_SKIP_BACKUP / --skip-backup: migrate without the backup first (see memos_core.backup)
    skip_backup: bool = False
    #: MEMOS_RESPONSE_CACHE_MB: memory for answers of read routes, each served again only while the
    #: database is unchanged (see memos_core.response_cache); 0 turns the cache off
    response_cache_mb: float = 16.0
    #: MEMOS_DB_CONNECT_TIMEOUT: seconds start-up keeps trying a database server that is not
    #: reachable yet (see memos_core.store.connect); 0 tries once
    db_connect_timeout: float = 30.0
    version: str = "0.28.0"

    def __post_init__(self) -> None:
        # Validated and canonical however the Config was made (environment, tests, dataclasses.replace).
        object.__setattr__(self, "trusted_proxies", parse_trusted_proxies(self.trusted_proxies))
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"--workers / MEMOS_WORKERS: expected at least 1 process, not {self.workers!r}")

    @property
    def demo(self) -> bool:
        return self.mode == "demo"

    @property
    def data_dir(self) -> Path:
        return Path(self.data or ".").resolve()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Config:
        """Read ``MEMOS_*`` variables; ``overrides`` (explicit flags) win over them."""
        env = dict(os.environ if env is None else env)

        def get(name: str, default: str = "") -> str:
            return env.get(f"MEMOS_{name}", default)

        def flag(name: str) -> bool:
            return get(name).strip().lower() in ("1", "true", "yes", "on")

        def names(name: str) -> tuple[str, ...]:
            return tuple(n.strip() for n in get(name).split(",") if n.strip())

        mode = get("MODE", "prod") or "prod"
        if flag("DEMO"):
            mode = "demo"
        values: dict = {
            "port": int(get("PORT", "5230") or 5230),
            "addr": get("ADDR"),
            "data": get("DATA"),
            "driver": get("DRIVER", "sqlite") or "sqlite",
            "dsn": get("DSN"),
            "mode": mode,
            "metrics": parse_metrics(get("METRICS")),
            "log_format": parse_log_format(get("LOG_FORMAT")),
            "instance_url": get("INSTANCE_URL").rstrip("/"),
            "unix_sock": get("UNIX_SOCK"),
            "allow_private_webhooks": flag("ALLOW_PRIVATE_WEBHOOKS"),
            "plugins": names("PLUGINS") if "MEMOS_PLUGINS" in env else None,
            "disable_plugins": names("DISABLE_PLUGINS"),
            "trace_plugins": flag("TRACE_PLUGINS"),
            "live_poll_interval": float(get("LIVE_POLL_INTERVAL", "0.5") or 0.5),
            "trusted_proxies": parse_trusted_proxies(get("TRUSTED_PROXIES")),
            "workers": _whole_number("MEMOS_WORKERS", get("WORKERS", "1") or "1"),
            "skip_backup": flag("SKIP_BACKUP"),
            "response_cache_mb": _amount(
                "MEMOS_RESPONSE_CACHE_MB", get("RESPONSE_CACHE_MB", "16") or "16", "megabytes"
            ),
            "db_connect_timeout": _amount(
                "MEMOS_DB_CONNECT_TIMEOUT", get("DB_CONNECT_TIMEOUT", "30") or "30", "seconds"
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values["mode"] not in ("prod", "demo", "dev"):
            raise ValueError(f"unknown mode {values['mode']!r}: expected prod, demo or dev")
        return cls(**values)


def _amount(name: str, raw: str, unit: str) -> float:
    """A finite number of ``unit`` (megabytes, seconds), 0 or more, or a ValueError naming the variable."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number of {unit}, not {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name}: expected 0 or more {unit}, not {raw!r}")
    return value
