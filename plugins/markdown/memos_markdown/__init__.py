"""memos-markdown: tags, mentions, property, title and snippet extraction, and safe HTML rendering."""
