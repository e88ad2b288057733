"""Static files under a content-hashed folder, so a new release is never served stale from a cache.

Every file under ``static/`` is read once at start-up. Their URLs share one folder named by the
first 10 hex digits of a SHA-256 over all of them (``/static/web/3f2a9c1b0d/app.css``): any change
to any file gives every URL a new name, and ES modules can still import each other by relative
path (``import { post } from "./app.js"``). Files are served with a one-year immutable cache
lifetime; a request for an old version answers 404 rather than the wrong bytes.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import mimetypes
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static/web/"
_COMPRESSIBLE = (".css", ".js", ".mjs", ".svg", ".json", ".webmanifest", ".txt")


@dataclasses.dataclass(frozen=True)
class Asset:
    url: str
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


class Assets:
    """The package's static files, addressed by logical name (``"app.css"``) or by hashed URL."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_file: dict[str, Asset] = {}
        files = sorted(p for p in root.rglob("*") if p.is_file())
        release = hashlib.sha256()
        for path in files:
            release.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        self.version = release.hexdigest()[:10]
        for path in files:
            name = path.relative_to(root).as_posix()
            body = path.read_bytes()
            gzipped = gzip.compress(body, 9, mtime=0) if path.suffix in _COMPRESSIBLE else None
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            asset = Asset(f"{PREFIX}{self.version}/{name}", body, gzipped, _content_type(path), etag)
            self._by_name[name] = asset
            self._by_file[f"{self.version}/{name}"] = asset

    def url(self, name: str) -> str:
        """The hashed URL of a static file; a missing name is a programming error."""
        return self._by_name[name].url

    async def handle(self, request: web.Request) -> web.StreamResponse:
        asset = self._by_file.get(request.match_info["path"])
        if asset is None:
            raise web.HTTPNotFound()
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": asset.etag,
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, content_type=asset.content_type, headers=headers)


def _content_type(path: Path) -> str:
    if path.suffix == ".webmanifest":
        return "application/manifest+json"
    if path.suffix in (".js", ".mjs"):
        return "text/javascript"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
