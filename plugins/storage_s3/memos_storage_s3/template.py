"""Object keys from the STORAGE setting's ``filepathTemplate`` (SPEC §8.2)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

DEFAULT_TEMPLATE = "assets/{timestamp}_{uuid}_{filename}"
_PLACEHOLDER = re.compile(r"\{[a-z]{1,9}\}")


def expand(
    template: str,
    filename: str,
    *,
    now: float | None = None,
    new_uuid: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> str:
    """Fill the placeholders; unknown ones stay literal and ``/{filename}`` is appended when missing.

    Dates are the server's local time, zero-padded, as upstream formats them.
    """
    template = template or DEFAULT_TEMPLATE
    if "{filename}" not in template:
        template += "/{filename}"
    now = time.time() if now is None else now
    t = time.localtime(now)
    values = {
        "{filename}": filename,
        "{timestamp}": str(int(now)),
        "{year}": f"{t.tm_year:04d}",
        "{month}": f"{t.tm_mon:02d}",
        "{day}": f"{t.tm_mday:02d}",
        "{hour}": f"{t.tm_hour:02d}",
        "{minute}": f"{t.tm_min:02d}",
        "{second}": f"{t.tm_sec:02d}",
    }

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{uuid}":
            return new_uuid()  # a fresh one per occurrence, like upstream's per-match replacement
        return values.get(token, token)

    return _PLACEHOLDER.sub(fill, template)
