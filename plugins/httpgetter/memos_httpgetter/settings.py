"""The plugin's settings, read from ``MEMOS_HTTPGETTER_*`` environment variables when the app is built."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping

PREFIX = "MEMOS_HTTPGETTER_"
#: No setting may follow more redirects than this.
REDIRECT_CAP = 10


def parse_allow(spec: str) -> frozenset[tuple[str, int]]:
    """``"127.0.0.1:8080, [::1]:9000"`` -> ``{("127.0.0.1", 8080), ("::1", 9000)}``.

    Entries are IP addresses with a port, never host names: the rule is applied to the address a
    connection goes to, after resolution, so a name cannot be made to point somewhere else.
    """
    out: set[tuple[str, int]] = set()
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        try:
            if not sep or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError
            address = ipaddress.ip_address(host).compressed
        except ValueError:
            raise ValueError(f"{PREFIX}ALLOW: {entry!r} is not an IP address with a port (127.0.0.1:8080)") from None
        out.add((address, int(port)))
    return frozenset(out)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Limits of the fetcher, the cache and the per-user rate limit (times in seconds)."""

    timeout: float = 10.0
    max_bytes: int = 1024 * 1024  # of a page: the head comes first, so this is generous
    image_max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    cache_ttl: int = 24 * 3600
    failure_ttl: int = 300
    rate_limit: int = 60  # fetches per user and window; cache hits are free
    rate_window: int = 60
    allow_private: bool = False
    allow: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(PREFIX + name, "").strip()

        def number(name: str, default: float, kind: type = int) -> float:
            raw = get(name)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ValueError(f"{PREFIX}{name} must be a number, got {raw!r}") from None
            if value <= 0:
                raise ValueError(f"{PREFIX}{name} must be positive, got {raw!r}")
            return value

        redirects_raw = get("MAX_REDIRECTS")
        max_redirects = cls.max_redirects
        if redirects_raw:
            if not redirects_raw.isdigit() or int(redirects_raw) > REDIRECT_CAP:
                raise ValueError(f"{PREFIX}MAX_REDIRECTS must be 0 to {REDIRECT_CAP}, got {redirects_raw!r}")
            max_redirects = int(redirects_raw)
        return cls(
            timeout=number("TIMEOUT", cls.timeout, float),
            max_bytes=number("MAX_BYTES", cls.max_bytes),
            image_max_bytes=number("IMAGE_MAX_BYTES", cls.image_max_bytes),
            max_redirects=max_redirects,
            cache_ttl=number("CACHE_TTL", cls.cache_ttl),
            failure_ttl=number("FAILURE_TTL", cls.failure_ttl),
            rate_limit=number("RATE_LIMIT", cls.rate_limit),
            rate_window=number("RATE_WINDOW", cls.rate_window),
            allow_private=get("ALLOW_PRIVATE").lower() in ("1", "true", "yes", "on"),
            allow=parse_allow(get("ALLOW")),
        )
