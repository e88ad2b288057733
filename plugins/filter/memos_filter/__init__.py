"""memos-filter: the Memos filter language (CEL subset) compiled to SQLAlchemy clauses."""
