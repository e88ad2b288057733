"""The pages and form handlers, one module per area; each exposes a ``routes`` table."""

from . import attachments, auth, editor, inbox, live, memo, preferences, sidebar, sso, timeline

ROUTES = (
    auth.routes,
    sso.routes,
    live.routes,
    preferences.routes,
    timeline.routes,
    editor.routes,
    memo.routes,
    sidebar.routes,
    attachments.routes,
    inbox.routes,
)
