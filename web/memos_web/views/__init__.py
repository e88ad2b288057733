"""The pages and form handlers, one module per area; each exposes a ``routes`` table."""

from .. import settings
from . import (  # settings_account before settings_admin: the account sections come first in the menu
    attachments,
    auth,
    editor,
    inbox,
    live,
    memo,
    preferences,
    recovery,
    settings_account,
    settings_admin,
    settings_data,
    sidebar,
    sso,
    timeline,
)

ROUTES = (
    auth.routes,
    recovery.routes,
    sso.routes,
    live.routes,
    preferences.routes,
    timeline.routes,
    editor.routes,
    memo.routes,
    sidebar.routes,
    attachments.routes,
    inbox.routes,
    settings.routes,
    settings_account.routes,
    settings_admin.routes,
    settings_data.routes,
)
