"""Import readers: the safe zip opener, Markdown folders/zips, Google Keep Takeout and another Memos
server. The readers touch no database; the remote one is tested against a real memos-py server
(once per driver) and against a server answering in the v0.22 shape."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest

from memos_core.portability import safezip
from memos_core.portability.model import ImportRefused

# --------------------------------------------------------------------------- helpers


def make_zip(files: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED, date=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=date or (2021, 3, 4, 5, 6, 8))
            info.compress_type = compression
            zf.writestr(info, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def refused(source, **limits) -> str:
    with pytest.raises(ImportRefused) as e, safezip.open_zip(source, **limits) as z:
        for entry in z:
            z.read(entry)
    return str(e.value)


# --------------------------------------------------------------------------- safezip


def test_safezip_reads_files_with_normalised_names_and_times():
    data = make_zip({"./notes/a.md": "hello", "notes\\b.md": "你好 🌏", "notes/": b""})
    with safezip.open_zip(data) as z:
        assert z.names() == ["notes/a.md", "notes/b.md"]
        assert z.read("notes/a.md") == b"hello"
        assert z.read(z.get("notes/b.md")).decode() == "你好 🌏"
        assert z.get("notes/a.md").mtime == 1614834368  # 2021-03-04 05:06:08 read as UTC


def test_safezip_refuses_a_zip_bomb():
    bomb = make_zip({"bomb.txt": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    assert "zip bomb" in refused(bomb)


def test_safezip_refuses_climbing_absolute_and_drive_paths():
    assert "outside the archive" in refused(make_zip({"../evil.md": "x"}))
    assert "outside the archive" in refused(make_zip({"notes/../../evil.md": "x"}))
    assert "absolute path" in refused(make_zip({"/etc/evil.md": "x"}))
    assert "absolute path" in refused(make_zip({"C:\\evil.md": "x"}))


def test_safezip_refuses_symlinks_encrypted_and_duplicates():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.md")
        info.create_system = 3
        info.external_attr = (0o120777) << 16
        zf.writestr(info, "/etc/passwd")
    assert "symbolic link" in refused(buf.getvalue())

    encrypted = bytearray(make_zip({"secret.md": "x"}, compression=zipfile.ZIP_STORED))
    # set the "encrypted" bit in the local header and in the central directory entry
    encrypted[6] |= 1
    central = encrypted.rfind(b"PK\x01\x02")
    encrypted[central + 8] |= 1
    assert "encrypted" in refused(bytes(encrypted))

    assert "same name once normalised" in refused(make_zip({"Notes/A.md": "x", "notes/a.md": "y"}))


def test_safezip_refuses_too_many_entries_and_oversized_files():
    many = make_zip({f"n{i}.md": "x" for i in range(30)})
    assert "30 entries" in refused(many, max_entries=20)
    assert "limit per file" in refused(make_zip({"big.md": os.urandom(5000)}), max_file_size=4096)
    assert "add up to more than" in refused(
        make_zip({"a.md": os.urandom(3000), "b.md": os.urandom(3000)}), max_total_size=5000
    )


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + os.urandom(200)])
def test_safezip_refuses_garbage(data):
    assert "not a zip archive" in refused(data)


def test_safezip_refuses_a_truncated_archive():
    whole = make_zip({"a.md": os.urandom(4000)})
    assert "not a zip archive" in refused(whole[: len(whole) // 2])


def test_safezip_refuses_an_entry_whose_header_understates_its_size():
    payload = b"A" * 4000 + os.urandom(4000)
    data = bytearray(make_zip({"liar.md": payload}))
    # Patch the uncompressed size in the central directory (and the local header) to 100 bytes:
    # the declared-size checks pass, the bytes inflated do not match.
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)
    struct.pack_into("<I", data, 22, 100)
    message = refused(bytes(data), max_file_size=1000)
    assert "damaged" in message or "hostile" in message

    # and one that overstates it: the stream ends before the declared size
    data = bytearray(make_zip({"short.md": payload}, compression=zipfile.ZIP_STORED))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 9000)
    assert "shorter than its header declares" in refused(bytes(data))


def test_safezip_reads_from_a_path(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"a.md": "x"}))
    with safezip.open_zip(path) as z:
        assert z.read("a.md") == b"x"
    assert "does not exist" in refused(tmp_path / "missing.zip")
