"""Open an uploaded zip archive without trusting it.

An archive a user uploads may be hostile or simply broken: a zip bomb (a few KiB that inflate to
gigabytes), entry names that climb out of the folder (``../x``, ``/etc/x``, ``C:\\x``), symbolic
links, encrypted entries, names that collide once normalised, or headers whose sizes lie. Every one
of those is refused here, up front where the central directory tells, and again while reading: the
caps count the bytes actually inflated, not the sizes the headers claim. Every refusal is an
:class:`~memos_core.portability.model.ImportRefused` whose message a user can act on.
"""

from __future__ import annotations

import calendar
import dataclasses
import io
import os
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

from .model import ImportRefused

#: Most entries (files and folders) an archive may hold.
MAX_ENTRIES = 20_000
#: Largest uncompressed size of one file.
MAX_FILE_SIZE = 100 * 1024 * 1024
#: Largest uncompressed size of all files together.
MAX_TOTAL_SIZE = 2 * 1024 * 1024 * 1024
#: Highest uncompressed/compressed ratio of one entry (text compresses ~10:1, bombs 1000:1 and more).
MAX_RATIO = 200
#: Entries smaller than this are exempt from the ratio check: a small file of blanks is harmless.
RATIO_EXEMPT_SIZE = 1024 * 1024

_CHUNK = 64 * 1024


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One file of the archive (folders are not listed)."""

    name: str  # relative POSIX path, normalised: no ``.``, ``..``, empty or absolute parts
    size: int  # the uncompressed size the archive declares (reading still enforces the caps)
    mtime: int  # last modification, Unix seconds (the Unix timestamp extra field, else the DOS date as UTC)
    info: zipfile.ZipInfo = dataclasses.field(repr=False, compare=False)


def normalise_name(raw: str) -> str:
    """The entry name as a safe relative POSIX path, or :class:`ImportRefused` if it is absolute or climbs out.

    Backslashes count as separators (archives made on Windows), ``.`` and empty parts are dropped,
    ``..`` is refused outright rather than resolved: no legitimate archive needs it.
    """
    name = raw.replace("\\", "/")
    if "\x00" in name:
        raise ImportRefused(f"The archive entry {raw!r} has a NUL character in its name.")
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        raise ImportRefused(f"The archive entry {raw!r} has an absolute path; only relative paths can be imported.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImportRefused(f"The archive entry {raw!r} points outside the archive (a '..' in its path).")
    return "/".join(parts)


def _unix_mtime(info: zipfile.ZipInfo) -> int:
    """The extended-timestamp extra field's mtime (UTC) when present, else the DOS date read as UTC."""
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4 : i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            return struct.unpack_from("<i", body, 1)[0]
        i += 4 + size
    try:
        return calendar.timegm((*info.date_time, 0, 0, 0))
    except (OverflowError, ValueError):
        return 0


class SafeZip:
    """A zip archive checked entry by entry on opening; :meth:`read` inflates under the caps.

    ``source`` is a path, the archive's bytes, or a seekable binary file.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | bytes | IO[bytes],
        *,
        max_entries: int = MAX_ENTRIES,
        max_file_size: int = MAX_FILE_SIZE,
        max_total_size: int = MAX_TOTAL_SIZE,
        max_ratio: float = MAX_RATIO,
    ) -> None:
        self.max_file_size = max_file_size
        self.max_total_size = max_total_size
        self.max_ratio = max_ratio
        self._read_total = 0
        if isinstance(source, bytes | bytearray | memoryview):
            source = io.BytesIO(bytes(source))
        try:
            self._zip = zipfile.ZipFile(source)
        except FileNotFoundError:
            raise ImportRefused("The archive file does not exist.") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error):
            raise ImportRefused("The file is not a zip archive, or it is damaged or truncated.") from None
        try:
            self.entries = self._check(max_entries)
        except BaseException:
            self._zip.close()
            raise
        self._by_name = {e.name: e for e in self.entries}

    def _check(self, max_entries: int) -> list[Entry]:
        infos = self._zip.infolist()
        if len(infos) > max_entries:
            raise ImportRefused(f"The archive has {len(infos)} entries; at most {max_entries} can be imported at once.")
        entries: list[Entry] = []
        seen: dict[str, str] = {}
        total = 0
        for info in infos:
            name = normalise_name(info.filename)
            if not name:
                continue
            # Case and Unicode form differ between file systems: two names one of them cannot tell apart
            # would silently become one file there, so they are refused here too.
            folded = unicodedata.normalize("NFC", name).casefold()
            if folded in seen:
                raise ImportRefused(
                    f"The archive holds both {seen[folded]!r} and {info.filename!r}, "
                    "which are the same name once normalised."
                )
            seen[folded] = info.filename
            if info.flag_bits & 0x1:
                raise ImportRefused(f"The archive entry {info.filename!r} is encrypted; export it without a password.")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ImportRefused(f"The archive entry {info.filename!r} is a symbolic link (not importable).")
            if info.is_dir():
                continue
            if info.file_size > self.max_file_size:
                raise ImportRefused(
                    f"The archive entry {info.filename!r} is {_mib(info.file_size)} uncompressed; "
                    f"the limit per file is {_mib(self.max_file_size)}."
                )
            self._check_ratio(info, info.file_size)
            total += info.file_size
            if total > self.max_total_size:
                raise ImportRefused(
                    f"The archive's files add up to more than {_mib(self.max_total_size)} uncompressed; "
                    "split it into smaller archives."
                )
            entries.append(Entry(name=name, size=info.file_size, mtime=_unix_mtime(info), info=info))
        return entries

    def _check_ratio(self, info: zipfile.ZipInfo, size: int) -> None:
        if size >= RATIO_EXEMPT_SIZE and size > self.max_ratio * max(info.compress_size, 1):
            raise ImportRefused(
                f"The archive entry {info.filename!r} inflates more than {self.max_ratio:g} times "
                "(a zip bomb?); it was not imported."
            )

    def names(self) -> list[str]:
        """The normalised names of the archive's files, in archive order."""
        return [e.name for e in self.entries]

    def get(self, name: str) -> Entry | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def read(self, entry: Entry | str) -> bytes:
        """The entry's bytes, inflated in chunks with the per-file, total and ratio caps counted on
        the bytes actually produced (a header understating the size cannot sneak more through)."""
        if isinstance(entry, str):
            found = self._by_name.get(entry)
            if found is None:
                raise ImportRefused(f"The archive has no file {entry!r}.")
            entry = found
        info = entry.info
        limit = min(self.max_file_size, info.file_size)
        out = bytearray()
        try:
            with self._zip.open(info) as stream:
                while True:
                    chunk = stream.read(_CHUNK)
                    if not chunk:
                        break
                    out += chunk
                    if len(out) > limit:
                        raise ImportRefused(
                            f"The archive entry {info.filename!r} holds more data than its header declares "
                            "(or more than the per-file limit); the archive is damaged or hostile."
                        )
                    self._check_ratio(info, len(out))
                    if self._read_total + len(out) > self.max_total_size:
                        raise ImportRefused(
                            f"The archive's files add up to more than {_mib(self.max_total_size)} uncompressed."
                        )
        except ImportRefused:
            raise
        except NotImplementedError:
            raise ImportRefused(
                f"The archive entry {info.filename!r} uses a compression method that is not supported "
                "(use ordinary Deflate)."
            ) from None
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError, struct.error) as e:
            raise ImportRefused(
                f"The archive entry {info.filename!r} is damaged or truncated ({e}); re-create the archive."
            ) from None
        if len(out) != info.file_size:
            raise ImportRefused(f"The archive entry {info.filename!r} is shorter than its header declares.")
        self._read_total += len(out)
        return bytes(out)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_zip(source: str | os.PathLike[str] | bytes | IO[bytes], **limits: int | float) -> SafeZip:
    """Open ``source`` as a :class:`SafeZip` (keyword limits override the module's defaults)."""
    return SafeZip(source, **limits)  # type: ignore[arg-type]
