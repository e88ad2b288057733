"""Your data in and out: export an account, import notes from memos-py, Markdown files, Google Keep
Takeout or another Memos server.

Every reader turns its source into :class:`~memos_core.portability.model.ImportedMemo` drafts; one
writer (``apply``) puts drafts into an account, all or nothing. Exports are written by ``export``.
"""
