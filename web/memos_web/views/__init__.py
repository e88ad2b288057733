"""The pages and form handlers, one module per area; each exposes a ``routes`` table."""

from . import auth, memo, sidebar, sso, timeline

ROUTES = (
    auth.routes,
    sso.routes,
    timeline.routes,
    memo.routes,
    sidebar.routes,
)
