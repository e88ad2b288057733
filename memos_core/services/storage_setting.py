"""The STORAGE instance setting: where new attachments go and how large they may be.

Stored as protojson (camelCase, defaults omitted, int64 as a string). Reads merge in defaults; the
S3 ``accessKeySecret`` is write-only (never returned, kept when sent empty). Writes are checked
completely before anything is stored: the storage type must name a registered backend and the
path template must not be able to leave the data directory.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

from ..errors import denied, invalid, unauthenticated
from ..storage_local import DEFAULT_TEMPLATE, check_template
from ..store import settings as settings_store

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

KEY = "STORAGE"
FIELD = "storageSetting"
DEFAULT_LIMIT_MB = 30
MIB = 1024 * 1024
#: storepb.InstanceStorageSetting.StorageType numbers, accepted on input.
STORAGE_TYPES = {1: "DATABASE", 2: "LOCAL", 3: "S3"}
S3_STRINGS = ("accessKeyId", "accessKeySecret", "endpoint", "region", "bucket")
DEFAULTS: dict[str, Any] = {
    "storageType": "LOCAL",
    "filepathTemplate": DEFAULT_TEMPLATE,
    "uploadSizeLimitMb": str(DEFAULT_LIMIT_MB),
    "s3Config": None,
}


async def get(store) -> dict[str, Any]:
    """The effective setting, secrets included (for the backends, never for the API).

    No row means a new install's defaults (LOCAL). A stored row without ``storageType`` is the
    unspecified enum, which upstream treats as DATABASE when saving, so it reads as DATABASE.
    """
    stored = await settings_store.get_instance_setting(store, KEY)
    value = copy.deepcopy(DEFAULTS)
    if stored is None:
        return value
    value["storageType"] = stored.get("storageType") or "DATABASE"
    if isinstance(stored.get("storageType"), int):
        value["storageType"] = STORAGE_TYPES.get(stored["storageType"], "DATABASE")
    value["filepathTemplate"] = stored.get("filepathTemplate") or DEFAULT_TEMPLATE
    value["uploadSizeLimitMb"] = str(_limit_mb(stored.get("uploadSizeLimitMb")) or DEFAULT_LIMIT_MB)
    s3 = stored.get("s3Config")
    if isinstance(s3, dict):
        value["s3Config"] = {**{k: "" for k in S3_STRINGS}, "usePathStyle": False, **s3}
    return value


def _limit_mb(raw: Any) -> int:
    try:
        return max(int(raw or 0), 0)
    except (TypeError, ValueError):
        return 0


def upload_limit_bytes(setting: dict[str, Any]) -> int:
    """The largest decoded attachment accepted (a stored 0 means the default 30 MiB)."""
    return (_limit_mb(setting.get("uploadSizeLimitMb")) or DEFAULT_LIMIT_MB) * MIB


def public_view(setting: dict[str, Any]) -> dict[str, Any]:
    """What the API shows: the secret is blanked, as upstream clears it."""
    value = copy.deepcopy(setting)
    if isinstance(value.get("s3Config"), dict):
        value["s3Config"]["accessKeySecret"] = ""
    return value


# -- writes --------------------------------------------------------------------------------------
def _pick(value: dict[str, Any], camel: str) -> Any:
    if camel in value:
        return value[camel]
    return value.get("".join("_" + c.lower() if c.isupper() else c for c in camel))


def _storage_type(raw: Any, registered: list[str]) -> str:
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, int):
        raw = STORAGE_TYPES.get(raw)
    if not isinstance(raw, str) or raw not in registered:
        raise invalid(f"invalid storageSetting.storageType: {raw!r}; available: {', '.join(registered)}")
    return raw


def _upload_limit(raw: Any) -> int:
    """protojson int64: a JSON number without fraction or a decimal string; must be > 0."""
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < 2**43:
        raise invalid(f"invalid storageSetting.uploadSizeLimitMb: {raw!r}; it must be a positive number of MiB")
    return raw


def _s3_config(raw: Any, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("invalid storageSetting.s3Config: expected an object")
    out: dict[str, Any] = {}
    for name in S3_STRINGS:
        v = _pick(raw, name)
        if v is None:
            v = ""
        if not isinstance(v, str):
            raise invalid(f"invalid storageSetting.s3Config.{name}: expected a string")
        if v:
            out[name] = v
    path_style = _pick(raw, "usePathStyle")
    if path_style not in (None, True, False):
        raise invalid("invalid storageSetting.s3Config.usePathStyle: expected a boolean")
    if path_style:
        out["usePathStyle"] = True
    if not out.get("accessKeySecret") and previous and previous.get("accessKeySecret"):
        out["accessKeySecret"] = previous["accessKeySecret"]  # write-only: empty keeps the stored one
    return out


def validate(value: Any, registered: list[str], previous: dict[str, Any]) -> dict[str, Any]:
    """An API ``storageSetting`` -> the stored protojson value; 400 on anything invalid."""
    if not isinstance(value, dict):
        raise invalid(f"{FIELD} is required and must be an object")
    template = _pick(value, "filepathTemplate")
    stored: dict[str, Any] = {
        "storageType": _storage_type(_pick(value, "storageType"), registered),
        "filepathTemplate": check_template(template) if template not in (None, "") else DEFAULT_TEMPLATE,
    }
    raw_limit = _pick(value, "uploadSizeLimitMb")
    stored["uploadSizeLimitMb"] = str(_upload_limit(raw_limit if raw_limit not in (None, "") else DEFAULT_LIMIT_MB))
    s3 = _s3_config(_pick(value, "s3Config"), previous.get("s3Config"))
    if s3 is not None:
        stored["s3Config"] = s3
    return stored


# -- the API -------------------------------------------------------------------------------------
def _check_admin(viewer: Principal | None) -> None:
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if not viewer.is_admin:
        raise denied("permission denied")


async def read_api(ctx: Context, viewer: Principal | None) -> dict[str, Any]:
    """GetInstanceSetting(STORAGE): admins only (anonymous 401, users 403)."""
    _check_admin(viewer)
    return public_view(await get(ctx.store))


async def update_api(ctx: Context, viewer: Principal | None, body: dict[str, Any]) -> dict[str, Any]:
    """UpdateInstanceSetting(STORAGE) with the request's InstanceSetting ``body``: replace the value
    whole (the mask is ignored), then read it back."""
    _check_admin(viewer)
    others = sorted(
        k for k in body if k.lower().endswith(("setting", "_setting")) and k not in (FIELD, "storage_setting")
    )
    if others:
        raise invalid(f"instance setting {KEY} takes {FIELD}, not {', '.join(others)}")
    value = _pick(body, FIELD)
    async with ctx.store.transaction():
        previous = await get(ctx.store)
        stored = validate(value, ctx.storages.names(), previous)
        await settings_store.set_instance_setting(ctx.store, KEY, stored)
    return public_view(await get(ctx.store))
