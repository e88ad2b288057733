"""Import sources, each read into :class:`~memos_core.portability.model.ImportedMemo` drafts."""
