"""``MEMOS_DSN`` parsing: URL form (``mysql://user:pw@host:3306/db``) and upstream's Go form
(``user:pw@tcp(host:3306)/db?parseTime=true``), so an upstream deployment's DSN works unchanged."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

#: Query options ``databases``' MySQL backend understands; everything else (Go driver flags such
#: as ``parseTime``, ``loc``, ``charset``) is dropped: this driver sets charset and time zone itself.
POOL_OPTIONS = ("min_size", "max_size", "pool_recycle", "ssl", "unix_socket")

_GO_DSN = re.compile(
    r"^(?:(?P<user>[^:@/]*)(?::(?P<password>.*))?@)?"  # the password may contain '@' and ':'
    r"(?:(?P<proto>tcp|unix)\((?P<addr>[^)]*)\))?"
    r"/(?P<db>[^?]*)(?:\?(?P<query>.*))?$"
)


@dataclasses.dataclass(frozen=True)
class MySQLDSN:
    user: str = ""
    password: str = ""
    host: str = "127.0.0.1"
    port: int = 3306
    database: str = ""
    unix_socket: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def url(self, database: str | None = None) -> str:
        """The ``databases`` URL (``mysql+aiomysql://…``), optionally naming another database."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        options = [(k, v) for k, v in self.options if k != "unix_socket"]
        if self.unix_socket:
            options.append(("unix_socket", self.unix_socket))
        query = "&".join(f"{k}={quote(v, safe='/')}" for k, v in options)
        db = self.database if database is None else database
        return f"mysql+aiomysql://{auth}@{self.host}:{self.port}/{quote(db, safe='')}" + (f"?{query}" if query else "")

    def connect_kwargs(self) -> dict:
        """Keyword arguments for a single ``aiomysql.connect`` (test database management)."""
        kwargs: dict = {"user": self.user, "password": self.password, "host": self.host, "port": self.port}
        if self.unix_socket:
            kwargs["unix_socket"] = self.unix_socket
        return kwargs


def _split_host(addr: str) -> tuple[str, int]:
    if addr.startswith("["):  # [ipv6]:port
        host, _, rest = addr[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:] else 3306
    host, _, port = addr.rpartition(":") if ":" in addr else (addr, "", "")
    return host or "127.0.0.1", int(port) if port else 3306


def _options(query: str) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k in POOL_OPTIONS)


def parse_dsn(dsn: str) -> MySQLDSN:
    """Parse either DSN form; raise ``ValueError`` with the accepted forms when it is neither."""
    dsn = dsn.strip()
    if "://" in dsn:
        parts = urlsplit(dsn)
        if not parts.scheme.startswith(("mysql", "mariadb")):
            raise ValueError(f"not a MySQL DSN (scheme {parts.scheme!r})")
        options = _options(parts.query)
        socket = dict(options).get("unix_socket", "")
        return MySQLDSN(
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            database=unquote(parts.path.lstrip("/")),
            unix_socket=socket,
            options=options,
        )
    m = _GO_DSN.match(dsn)
    if m is None:
        raise ValueError(
            "MEMOS_DSN for mysql must be mysql://user:password@host:port/db or user:password@tcp(host:port)/db"
        )
    host, port, socket = "127.0.0.1", 3306, ""
    if m["proto"] == "unix":
        socket = m["addr"]
    elif m["addr"]:
        host, port = _split_host(m["addr"])
    return MySQLDSN(
        user=m["user"] or "",
        password=m["password"] or "",
        host=host,
        port=port,
        database=m["db"],
        unix_socket=socket,
        options=_options(m["query"] or ""),
    )
