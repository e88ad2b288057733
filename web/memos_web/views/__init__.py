"""The pages and form handlers, one module per area; each exposes a ``routes`` table."""

from . import attachments, auth, editor, inbox, memo, sidebar, sso, timeline

ROUTES = (
    auth.routes,
    sso.routes,
    timeline.routes,
    editor.routes,
    memo.routes,
    sidebar.routes,
    attachments.routes,
    inbox.routes,
)
