"""The pages and form handlers, one module per area; each exposes a ``routes`` table."""

from . import auth, memo, timeline

ROUTES = (auth.routes, timeline.routes, memo.routes)
