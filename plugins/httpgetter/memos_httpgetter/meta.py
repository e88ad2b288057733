"""Link metadata from the head of an HTML page: title, description, site name, preview image.

The page is decoded in its own charset, chosen as browsers do: a byte-order mark first, then the
``Content-Type`` header's ``charset``, then a ``<meta charset>`` or ``<meta http-equiv>`` in the
first bytes, else UTF-8 (bytes that are not UTF-8 then fall back to windows-1252). Parsing stops at
``<body>`` (or ``</head>``): the head is all that is read, and the caller stops feeding bytes at its
cap, so a page without a head still yields what its first bytes hold.

Field precedence: Open Graph (``og:*``), then Twitter cards (``twitter:*``), then ``<title>`` and
``<meta name=description>``. YouTube watch pages get their video's thumbnail, as upstream does.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

#: How many leading bytes are searched for a ``<meta>`` charset declaration.
PRESCAN_BYTES = 4096
MAX_TITLE = 300
MAX_DESCRIPTION = 600
MAX_SITE_NAME = 120
MAX_URL = 2048
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

# Labels that browsers decode with a superset (the WHATWG Encoding Standard's mapping).
_SUPERSETS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc-kr": "cp949",
}
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([a-zA-Z0-9_.:-]+)", re.IGNORECASE)
_YOUTUBE_HOSTS = frozenset({"www.youtube.com", "youtube.com", "m.youtube.com"})
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{6,20}")


@dataclasses.dataclass(frozen=True)
class LinkMetadata:
    url: str  # the page's final URL (after redirects)
    title: str = ""
    description: str = ""
    site_name: str = ""
    image: str = ""  # absolute http(s) URL, not yet checked against the SSRF rules


# -- charsets -----------------------------------------------------------------------------------
def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, or ``None`` if unknown. UTF-16 in a ``<meta>`` is
    impossible (the meta would not be ASCII-readable), so callers ask only for what they read."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _SUPERSETS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def header_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return codec_for(value)
    return None


def sniff_charset(content_type: str, head: bytes) -> tuple[str | None, int]:
    """``(codec, bytes to skip)`` for a page whose first bytes are ``head``; the codec is ``None``
    when nothing declares one."""
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
    for bom, codec in boms:
        if head.startswith(bom):
            return codec, len(bom)
    declared = header_charset(content_type)
    if declared:
        return declared, 0
    match = _META_CHARSET.search(head[:PRESCAN_BYTES])
    declared = codec_for(match.group(1).decode("ascii", "replace")) if match else None
    if declared and not declared.startswith("utf-16"):  # a meta readable as ASCII cannot be UTF-16
        return declared, 0
    return None, 0


class _Utf8OrWindows1252:
    """Incremental decoder for undeclared pages: UTF-8 until a byte proves otherwise, then cp1252."""

    def __init__(self) -> None:
        self._inner = codecs.getincrementaldecoder("utf-8")()
        self._fallback = False

    def decode(self, data: bytes, final: bool = False) -> str:
        if not self._fallback:
            try:
                return self._inner.decode(data, final)
            except UnicodeDecodeError:
                pending, _ = self._inner.getstate()
                self._fallback = True
                self._inner = codecs.getincrementaldecoder("cp1252")("replace")
                data = pending + data
        return self._inner.decode(data, final)


# -- parsing ------------------------------------------------------------------------------------
class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done = False
        self.meta: dict[str, str] = {}
        self.base = ""
        self._title: list[str] | None = None
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "body":
            self.done = True
        elif tag == "title" and not self.title and self._title is None:
            self._title = []
        elif tag == "meta":
            values = {name.lower(): value or "" for name, value in attrs}
            key = (values.get("property") or values.get("name") or "").strip().lower()
            if key and "content" in values:
                self.meta.setdefault(key, values["content"])
        elif tag == "base" and not self.base:
            self.base = dict(attrs).get("href") or ""

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.title = "".join(self._title)
            self._title = None
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)


class HeadReader:
    """Feed a page's bytes as they arrive; :attr:`done` once its head was read."""

    def __init__(self, content_type: str) -> None:
        self._content_type = content_type
        self._pending = b""
        self._decoder: codecs.IncrementalDecoder | _Utf8OrWindows1252 | None = None
        self._parser = _HeadParser()
        self.charset = ""

    @property
    def done(self) -> bool:
        return self._parser.done

    def feed(self, data: bytes) -> None:
        if self._decoder is None:
            self._pending += data
            if len(self._pending) < PRESCAN_BYTES:
                return
            self._start()
            data, self._pending = self._pending, b""
        self._parse(self._decoder.decode(data))

    def _start(self) -> None:
        codec, skip = sniff_charset(self._content_type, self._pending)
        self.charset = codec or "utf-8"
        self._decoder = _Utf8OrWindows1252() if codec is None else codecs.getincrementaldecoder(codec)("replace")
        self._pending = self._pending[skip:]

    def _parse(self, text: str) -> None:
        if text and not self._parser.done:
            self._parser.feed(text)

    def result(self, url: str) -> LinkMetadata:
        """The metadata found (call after the last :meth:`feed`); ``url`` is the page's final URL."""
        if self._decoder is None:
            self._start()
            pending, self._pending = self._pending, b""
            self._parse(self._decoder.decode(pending, True))
        elif not self._parser.done:
            self._parse(self._decoder.decode(b"", True))
        parser = self._parser
        if parser._title is not None:  # the cap cut the title short: keep what was read
            parser.title = "".join(parser._title)
        meta = parser.meta

        def first(*keys: str) -> str:
            return next((meta[k] for k in keys if meta.get(k, "").strip()), "")

        base = urljoin(url, parser.base) if parser.base else url
        return LinkMetadata(
            url=url,
            title=_clean(first("og:title", "twitter:title") or parser.title, MAX_TITLE),
            description=_clean(first("og:description", "twitter:description", "description"), MAX_DESCRIPTION),
            site_name=_clean(first("og:site_name", "application-name"), MAX_SITE_NAME),
            image=absolute_url(
                base, first("og:image:secure_url", "og:image", "og:image:url", "twitter:image", "twitter:image:src")
            ),
        )


def _clean(text: str, limit: int) -> str:
    """Whitespace collapsed, at most ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def absolute_url(base: str, ref: str) -> str:
    """``ref`` resolved against ``base`` if that gives an ``http(s)`` URL of sane length, else ``""``."""
    ref = ref.strip()
    if not ref:
        return ""
    try:
        url = urljoin(base, ref)
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        return ""
    return url


def youtube_thumbnail(url: str) -> str:
    """The thumbnail of a YouTube video page (``watch?v=…`` or ``youtu.be/…``), else ``""``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    video = ""
    if host in _YOUTUBE_HOSTS and parts.path == "/watch":
        video = (parse_qs(parts.query).get("v") or [""])[0]
    elif host == "youtu.be":
        video = parts.path.strip("/")
    if not _YOUTUBE_ID.fullmatch(video):
        return ""
    return f"https://img.youtube.com/vi/{video}/mqdefault.jpg"


def is_html(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES
