"""Another Memos server (v0.22 and later, or memos-py), read over its REST API with an access token.

What is read: every memo the token's user created, archived ones included, with their attachments'
bytes, reactions, references between them, and the user's own comments on them (comments others
left are theirs, not the importing user's, and stay behind). The key of a memo is its name on the
other server (``memos/...``).

The API changed between releases; this reader copes with:

* who the token belongs to: ``GET /api/v1/auth/me`` (v0.26+), ``GET /api/v1/auth/sessions/current``
  (v0.25), ``POST /api/v1/auth/status`` (v0.22-v0.24);
* listing one user's memos: ``state`` with a ``creator`` or ``creator_id`` filter (v0.26+), ``parent``
  and ``state`` (v0.24-v0.25), a ``creator ... && row_status ...`` filter (v0.22-v0.23). The variant
  a server refuses (400) is dropped for the next; whatever the server answers, only the user's own
  memos are kept;
* ``resources`` (up to v0.24) and ``attachments`` (v0.25+); ``rowStatus`` and ``state``; relation ends
  as names (v0.22) or ``{name}`` objects; bytes at ``/file/{name}/{filename}``, or ``/file/{name}``
  (v0.22). Attachments held as external links are left out (their bytes are not on that server).

Outbound HTTP goes through :func:`memos_core.netguard.guarded_session`: private and loopback
addresses are refused unless the caller passes ``allow_private=True``; redirects of file downloads
(S3 presigned URLs) are followed by hand, each hop checked, the token sent to the server's own origin
only. Every failure is an :class:`~memos_core.portability.model.ImportRefused`.
"""

from __future__ import annotations

import datetime
import json
import mimetypes
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

from .. import safezip
from ..model import ImportedAttachment, ImportedMemo, ImportedReaction, ImportRefused

if TYPE_CHECKING:
    import aiohttp

#: Memos asked for per page.
PAGE_SIZE = 200
#: Largest JSON answer read from the other server.
MAX_JSON_SIZE = 64 * 1024 * 1024
#: Largest attachment downloaded, and all attachments together.
MAX_ATTACHMENT_SIZE = safezip.MAX_FILE_SIZE
MAX_TOTAL_SIZE = safezip.MAX_TOTAL_SIZE
#: Most pages followed for one listing (a server handing out page tokens forever is cut off).
MAX_PAGES = 10_000
#: Seconds one request may take (an attachment download included).
TIMEOUT = 300.0
_MAX_REDIRECTS = 5


async def read(
    url: str,
    token: str,
    *,
    session: aiohttp.ClientSession | None = None,
    allow_private: bool = False,
    page_size: int = PAGE_SIZE,
    max_attachment_size: int = MAX_ATTACHMENT_SIZE,
    max_total_size: int = MAX_TOTAL_SIZE,
) -> list[ImportedMemo]:
    """The memos of the user ``token`` belongs to on the Memos server at ``url``.

    ``session`` replaces the guarded session this function would open (the caller then answers for
    where it may connect); ``allow_private`` lets the guarded session reach private addresses.
    """
    import aiohttp

    from ... import netguard

    base = url.strip().rstrip("/")
    try:
        netguard.check_url(base, allow_private)
    except netguard.BadURL:
        raise ImportRefused("The server address must be an http(s) URL, e.g. https://memos.example.com.") from None
    except netguard.DestinationRefused as e:
        raise ImportRefused(f"That address is not allowed: {e}.") from None
    if not token.strip():
        raise ImportRefused("An access token of your account on the other server is needed.")
    own = session is None
    if session is None:
        session = netguard.guarded_session(allow_private=allow_private, timeout=TIMEOUT)
    reader = _Reader(session, base, token.strip(), allow_private, page_size, max_attachment_size, max_total_size)
    host = urlsplit(base).netloc
    try:
        return await reader.read_all()
    except netguard.DestinationRefused as e:
        raise ImportRefused(f"That address is not allowed: {e}.") from None
    except aiohttp.ClientConnectorError as e:
        if isinstance(e.os_error, netguard.DestinationRefused):
            raise ImportRefused(f"That address is not allowed: {e.os_error}.") from None
        raise ImportRefused(f"Could not connect to {host}: {e.os_error or e}.") from None
    except (aiohttp.ClientError, OSError) as e:
        raise ImportRefused(f"The connection to {host} failed: {e}.") from None
    except TimeoutError:
        raise ImportRefused(f"{host} did not answer in time.") from None
    finally:
        if own:
            await session.close()


def _ref(value: object) -> str:
    """A relation end as a name: ``"memos/x"`` (v0.22) or ``{"name": "memos/x"}`` (later)."""
    if isinstance(value, dict):
        value = value.get("name")
    return value if isinstance(value, str) else ""


def _time(value: object) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # protojson may send nanoseconds; fromisoformat wants at most microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)] + rest[digits:]
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp())


class _Reader:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        token: str,
        allow_private: bool,
        page_size: int,
        max_attachment_size: int,
        max_total_size: int,
    ) -> None:
        self.session = session
        self.base = base
        self.origin = urlsplit(base)[:2]
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.allow_private = allow_private
        self.page_size = max(1, page_size)
        self.max_attachment_size = max_attachment_size
        self.max_total_size = max_total_size
        self.downloaded = 0
        self.me = ""

    # ------------------------------------------------------------------ HTTP

    async def _body(self, response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
        declared = response.content_length
        if declared is not None and declared > limit:
            raise ImportRefused(f"{what} is larger than {limit} bytes.")
        data = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > limit:
                raise ImportRefused(f"{what} is larger than {limit} bytes.")
        return bytes(data)

    async def _json(self, method: str, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        """``(status, decoded JSON or None)`` of an API call; a redirect or non-JSON answer is ``None``."""
        async with self.session.request(
            method, self.base + path, params=params, headers=self.headers, allow_redirects=False
        ) as response:
            body = await self._body(response, MAX_JSON_SIZE, f"The answer to {path}")
            try:
                return response.status, json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                return response.status, None

    def _refuse(self, status: int, data: Any, what: str) -> ImportRefused:
        if status in (401, 403):
            return ImportRefused(
                f"The other server refused the access token (HTTP {status}) while {what}: "
                "check that it is valid, not expired, and belongs to the account to import."
            )
        message = data.get("message") if isinstance(data, dict) else None
        return ImportRefused(
            f"The other server answered HTTP {status} while {what}" + (f": {message}" if message else ".")
        )

    async def _whoami(self) -> tuple[str, str]:
        """The token user's name and the API generation: ``v26`` (v0.26+), ``v25`` or ``v22`` (v0.22-v0.24)."""
        statuses = []
        for method, path, generation in (
            ("GET", "/api/v1/auth/me", "v26"),
            ("GET", "/api/v1/auth/sessions/current", "v25"),
            ("POST", "/api/v1/auth/status", "v22"),
        ):
            status, data = await self._json(method, path)
            statuses.append(status)
            if status == 200 and isinstance(data, dict):
                user = data.get("user", data)
                if isinstance(user, dict) and isinstance(user.get("name"), str) and user["name"]:
                    return user["name"], generation
        if 401 in statuses or 403 in statuses:
            raise self._refuse(401, None, "finding whose token it is")
        raise ImportRefused(
            "That address does not answer like a Memos server (v0.22 or later): check the URL "
            "(the server's base address, without /api)."
        )

    # ------------------------------------------------------------------ listing

    def _variants(self, generation: str, state: str) -> list[dict[str, str]]:
        me = self.me
        number = me.rsplit("/", 1)[-1]
        by_id = [{"state": state, "filter": f"creator_id == {number}"}] if number.isdigit() else []
        if generation == "v26":
            return [{"state": state, "filter": f'creator == "{me}"'}, *by_id, {"state": state}]
        if generation == "v25":
            return [{"parent": me, "state": state}, *by_id, {"state": state}]
        return [
            {"filter": f'creator == "{me}" && row_status == "{state}"'},
            {"parent": me, "state": state},
            {"state": state},
        ]

    async def _pages(self, path: str, params: dict[str, str], what: str) -> list[dict] | None:
        """Every item of a paged listing; ``None`` when the server refuses the parameters (400)."""
        items: list[dict] = []
        token = ""
        seen_tokens = set()
        for _ in range(MAX_PAGES):
            query = {**params, "pageSize": str(self.page_size)}
            if token:
                query["pageToken"] = token
            status, data = await self._json("GET", path, query)
            if status == 400 and not token:
                return None
            if status != 200 or not isinstance(data, dict):
                raise self._refuse(status, data, what)
            page = data.get("memos") or []
            if not isinstance(page, list):
                raise ImportRefused(f"The other server's answer while {what} has no list of memos.")
            items.extend(m for m in page if isinstance(m, dict))
            token = data.get("nextPageToken") or ""
            if not token:
                return items
            if token in seen_tokens:
                raise ImportRefused(f"The other server repeats a page while {what}.")
            seen_tokens.add(token)
        raise ImportRefused(f"The other server has more than {MAX_PAGES} pages while {what}.")

    async def _list_own(self, generation: str) -> list[dict]:
        found: dict[str, dict] = {}
        for state in ("NORMAL", "ARCHIVED"):
            for params in self._variants(generation, state):
                memos = await self._pages("/api/v1/memos", params, "listing your memos")
                if memos is None:
                    continue
                for memo in memos:
                    name = memo.get("name")
                    if (
                        isinstance(name, str)
                        and name not in found
                        and memo.get("creator") == self.me
                        and not memo.get("parent")
                        and not memo.get("parentId")
                    ):
                        found[name] = memo
                break
            else:
                raise ImportRefused("The other server refused every way of listing your memos.")
        return list(found.values())

    async def _comments(self, memo: dict) -> list[dict]:
        name = memo["name"]
        if not any(
            isinstance(r, dict) and r.get("type") == "COMMENT" and _ref(r.get("relatedMemo")) == name
            for r in memo.get("relations") or []
        ):
            return []
        comments = await self._pages(f"/api/v1/{quote(name)}/comments", {}, f"reading the comments of {name}")
        if comments is None:
            raise ImportRefused(f"The other server refused to list the comments of {name}.")
        return [c for c in comments if c.get("creator") == self.me and isinstance(c.get("name"), str)]

    # ------------------------------------------------------------------ attachments

    async def _download(self, url: str, what: str) -> bytes | None:
        """The bytes at ``url`` (redirects followed by hand, each hop checked), ``None`` on a 404."""
        from ... import netguard

        budget = min(self.max_attachment_size, self.max_total_size - self.downloaded)
        for _ in range(_MAX_REDIRECTS + 1):
            netguard.check_url(url, self.allow_private)
            same_origin = urlsplit(url)[:2] == self.origin
            headers = self.headers if same_origin else {}
            async with self.session.get(url, headers=headers, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise self._refuse(response.status, None, f"downloading {what}")
                # A single-page front end answers unknown paths with its index page: not the file.
                if response.content_type == "text/html" and not what.lower().endswith((".html", ".htm")):
                    return None
                try:
                    data = await self._body(response, budget, what)
                except ImportRefused:
                    raise ImportRefused(
                        f"{what} is larger than the limit of {self.max_attachment_size} bytes per file "
                        f"and {self.max_total_size} bytes in all."
                    ) from None
                self.downloaded += len(data)
                return data
        raise ImportRefused(f"Too many redirects while downloading {what}.")

    async def _attachments(self, memo: dict) -> list[ImportedAttachment]:
        out = []
        for item in memo.get("attachments") or memo.get("resources") or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or item.get("externalLink"):
                continue
            name = item["name"]
            filename = item.get("filename") if isinstance(item.get("filename"), str) else ""
            filename = filename or name.rsplit("/", 1)[-1]
            what = f"the attachment {filename!r} of {memo['name']}"
            data = await self._download(f"{self.base}/file/{quote(name)}/{quote(filename)}", what)
            if data is None and name.startswith("resources/"):
                data = await self._download(f"{self.base}/file/{quote(name)}", what)  # v0.22
            if data is None:
                raise ImportRefused(f"The other server does not serve {what}.")
            mimetype = item.get("type") if isinstance(item.get("type"), str) else ""
            out.append(
                ImportedAttachment(
                    filename=filename, type=mimetype or mimetypes.guess_type(filename)[0] or "", data=data
                )
            )
        return out

    # ------------------------------------------------------------------ conversion

    async def _convert(self, memo: dict, *, with_comments: bool) -> ImportedMemo:
        name = memo["name"]
        content = memo.get("content")
        visibility = memo.get("visibility")
        state = memo.get("state") or memo.get("rowStatus")
        suffix = name.rsplit("/", 1)[-1]
        uid = memo.get("uid") if isinstance(memo.get("uid"), str) else ("" if suffix.isdigit() else suffix)
        location = memo.get("location")
        if isinstance(location, dict):
            location = {
                "placeholder": str(location.get("placeholder") or ""),
                "latitude": float(location.get("latitude") or 0),
                "longitude": float(location.get("longitude") or 0),
            }
        else:
            location = None
        reactions = []
        for r in memo.get("reactions") or []:
            if isinstance(r, dict) and isinstance(r.get("reactionType"), str) and r["reactionType"]:
                creator = r.get("creator") if isinstance(r.get("creator"), str) else ""
                reactions.append(
                    ImportedReaction(
                        reaction_type=r["reactionType"],
                        creator="" if creator == self.me else creator.rsplit("/", 1)[-1],
                    )
                )
        references = []
        for r in memo.get("relations") or []:
            if isinstance(r, dict) and r.get("type") == "REFERENCE" and _ref(r.get("memo")) == name:
                target = _ref(r.get("relatedMemo"))
                if target and target not in references:
                    references.append(target)
        imported = ImportedMemo(
            key=name,
            content=content if isinstance(content, str) else "",
            create_time=_time(memo.get("createTime")),
            update_time=_time(memo.get("updateTime")),
            visibility=visibility if visibility in ("PRIVATE", "PROTECTED", "PUBLIC") else "PRIVATE",
            pinned=memo.get("pinned") is True,
            archived=state == "ARCHIVED",
            location=location,
            attachments=await self._attachments(memo),
            reactions=reactions,
            references=references,
            uid=uid,
        )
        if with_comments:
            for comment in await self._comments(memo):
                imported.comments.append(await self._convert(comment, with_comments=False))
        return imported

    async def read_all(self) -> list[ImportedMemo]:
        self.me, generation = await self._whoami()
        memos = [await self._convert(m, with_comments=True) for m in await self._list_own(generation)]
        keys = {m.key for m in memos} | {c.key for m in memos for c in m.comments}
        for memo in memos:
            for each in (memo, *memo.comments):
                each.references = [r for r in each.references if r in keys and r != each.key]
        return memos
