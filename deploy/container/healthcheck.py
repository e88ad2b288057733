"""The image's HEALTHCHECK: ``GET /healthz`` where ``memos serve`` listens, as its ``MEMOS_*`` variables say.

The image has no curl; the standard library does it. Exit status 0 is healthy, 1 is not.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys

TIMEOUT = 4.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the unix socket of ``MEMOS_UNIX_SOCK``."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def connection(env: dict[str, str]) -> http.client.HTTPConnection:
    """A connection to the server: its unix socket, else its TCP address (a wildcard means loopback)."""
    if env.get("MEMOS_UNIX_SOCK"):
        return UnixHTTPConnection(env["MEMOS_UNIX_SOCK"], TIMEOUT)
    addr = env.get("MEMOS_ADDR", "")
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(addr, addr)
    return http.client.HTTPConnection(host, int(env.get("MEMOS_PORT") or 5230), timeout=TIMEOUT)


def main() -> int:
    conn = connection(dict(os.environ))
    try:
        conn.request("GET", "/healthz")
        status = conn.getresponse().status
    except OSError as e:
        print(f"unhealthy: {e}")
        return 1
    finally:
        conn.close()
    print(f"/healthz answered {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
