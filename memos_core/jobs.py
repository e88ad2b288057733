"""The core's own plugin: hooks the core implements for itself, whatever plugins are installed.

Unlike the core's default plugins (``core-auth``, ``core-storage``, entry points that
``MEMOS_DISABLE_PLUGINS`` can remove), this module is registered by the plugin manager itself and
``memos plugins`` lists it as ``core``. It holds the jobs that keep the core's own data tidy, so
that they keep running whichever storage backend is in use: the hourly removal of orphaned
attachments serves LOCAL, DATABASE and S3 alike. The scheduler plugin (memos-scheduler) runs them,
each slot once across the instances sharing a database.
"""

from __future__ import annotations

from collections.abc import Callable

from .hookspecs import hookimpl

#: The job that deletes attachments linked to no memo for a day (row and bytes, any backend).
ORPHAN_ATTACHMENTS_JOB = "attachment-orphans"


@hookimpl
def memos_register_runners(register: Callable[..., None]) -> None:
    from .services.attachments import cleanup_orphans

    register(ORPHAN_ATTACHMENTS_JOB, "0 * * * *", cleanup_orphans)
