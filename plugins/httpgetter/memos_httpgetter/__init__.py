"""memos-httpgetter: link metadata and the guarded fetcher (being built)."""
