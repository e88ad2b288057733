"""memos-email: notification mail, test mail and password recovery (being built)."""
