"""Services: the rules of each resource (access, validation, side effects), between handlers and store."""
