"""memos-py core: the public API that plugins and embedding applications use.

Plugins import from here (and :mod:`memos_core.hookspecs`), never from deeper modules' internals.
"""

from . import events, jsonbody, metrics, netguard
from .auth import Principal
from .auth.middleware import authenticate
from .config import Config
from .context import CONTEXT, Context, Event, context_of, viewer_of
from .errors import ApiError, Code, error_middleware, error_response
from .handlers import no_db_connection
from .hookspecs import HOOKSPEC_VERSION, hookimpl
from .live import serve_events
from .ratelimit import RateLimit
from .search_modes import SearchMode
from .services.instance import candidate_setting as candidate_instance_setting
from .services.instance import get_setting as instance_setting
from .services.memos import get_memo
from .services.search import text_ranked_ids
from .services.users import wants_email
from .services.webhooks import user_webhooks
from .storage import Download, StorageBackend, StoredObject, expand_path_template
from .store import Driver, StatementCache, Store, tables
from .store.plugin_tables import PluginSchemaError, ensure_plugin_schema
from .store.users import User, get_user

__version__ = "0.1.0"

__all__ = [
    "CONTEXT",
    "HOOKSPEC_VERSION",
    "ApiError",
    "Code",
    "Config",
    "Context",
    "Download",
    "Driver",
    "Event",
    "PluginSchemaError",
    "Principal",
    "RateLimit",
    "SearchMode",
    "StatementCache",
    "StorageBackend",
    "Store",
    "StoredObject",
    "User",
    "__version__",
    "authenticate",
    "candidate_instance_setting",
    "context_of",
    "ensure_plugin_schema",
    "error_middleware",
    "error_response",
    "events",
    "expand_path_template",
    "get_memo",
    "get_user",
    "hookimpl",
    "instance_setting",
    "jsonbody",
    "metrics",
    "netguard",
    "no_db_connection",
    "serve_events",
    "tables",
    "text_ranked_ids",
    "user_webhooks",
    "viewer_of",
    "wants_email",
]
