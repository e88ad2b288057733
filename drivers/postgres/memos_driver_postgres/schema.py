"""The PostgreSQL DDL of a new Memos v0.28 database (with PostgreSQL's column types).

Times are unix seconds in BIGINT columns defaulting to the current epoch; ``memo.payload`` and
``idp.config`` are JSONB, the other JSON columns TEXT; ids are SERIAL; ``"user"`` is quoted because it
is a reserved word.
"""

NOW = "EXTRACT(EPOCH FROM NOW())"

LATEST: list[str] = [
    """CREATE TABLE system_setting (
  name TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT ''
)""",
    f"""CREATE TABLE "user" (
  id SERIAL PRIMARY KEY,
  created_ts BIGINT NOT NULL DEFAULT {NOW},
  updated_ts BIGINT NOT NULL DEFAULT {NOW},
  row_status TEXT NOT NULL DEFAULT 'NORMAL' CHECK (row_status IN ('NORMAL', 'ARCHIVED')),
  username TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL DEFAULT 'USER',
  email TEXT NOT NULL DEFAULT '',
  nickname TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  avatar_url TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT ''
)""",
    """CREATE TABLE user_setting (
  user_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  UNIQUE (user_id, key)
)""",
    f"""CREATE TABLE memo (
  id SERIAL PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  creator_id INTEGER NOT NULL,
  created_ts BIGINT NOT NULL DEFAULT {NOW},
  updated_ts BIGINT NOT NULL DEFAULT {NOW},
  row_status TEXT NOT NULL DEFAULT 'NORMAL' CHECK (row_status IN ('NORMAL', 'ARCHIVED')),
  content TEXT NOT NULL DEFAULT '',
  visibility TEXT NOT NULL DEFAULT 'PRIVATE' CHECK (visibility IN ('PUBLIC', 'PROTECTED', 'PRIVATE')),
  pinned BOOLEAN NOT NULL DEFAULT FALSE,
  payload JSONB NOT NULL DEFAULT '{{}}'
)""",
    """CREATE TABLE memo_relation (
  memo_id INTEGER NOT NULL,
  related_memo_id INTEGER NOT NULL,
  type TEXT NOT NULL,
  UNIQUE (memo_id, related_memo_id, type)
)""",
    f"""CREATE TABLE attachment (
  id SERIAL PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  creator_id INTEGER NOT NULL,
  created_ts BIGINT NOT NULL DEFAULT {NOW},
  updated_ts BIGINT NOT NULL DEFAULT {NOW},
  filename TEXT NOT NULL DEFAULT '',
  blob BYTEA DEFAULT NULL,
  type TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  memo_id INTEGER DEFAULT NULL,
  storage_type TEXT NOT NULL DEFAULT '',
  reference TEXT NOT NULL DEFAULT '',
  payload TEXT NOT NULL DEFAULT '{{}}'
)""",
    """CREATE TABLE idp (
  id SERIAL PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  identifier_filter TEXT NOT NULL DEFAULT '',
  config JSONB NOT NULL DEFAULT '{}'
)""",
    f"""CREATE TABLE inbox (
  id SERIAL PRIMARY KEY,
  created_ts BIGINT NOT NULL DEFAULT {NOW},
  sender_id INTEGER NOT NULL,
  receiver_id INTEGER NOT NULL,
  status TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '{{}}'
)""",
    f"""CREATE TABLE reaction (
  id SERIAL PRIMARY KEY,
  created_ts BIGINT NOT NULL DEFAULT {NOW},
  creator_id INTEGER NOT NULL,
  content_id TEXT NOT NULL,
  reaction_type TEXT NOT NULL,
  UNIQUE (creator_id, content_id, reaction_type)
)""",
    f"""CREATE TABLE memo_share (
  id SERIAL PRIMARY KEY,
  uid TEXT NOT NULL UNIQUE,
  memo_id INTEGER NOT NULL REFERENCES memo (id) ON DELETE CASCADE,
  creator_id INTEGER NOT NULL,
  created_ts BIGINT NOT NULL DEFAULT {NOW},
  expires_ts BIGINT DEFAULT NULL
)""",
    "CREATE INDEX idx_memo_share_memo_id ON memo_share (memo_id)",
    f"""CREATE TABLE user_identity (
  id SERIAL PRIMARY KEY,
  user_id INTEGER NOT NULL,
  provider TEXT NOT NULL,
  extern_uid TEXT NOT NULL,
  created_ts BIGINT NOT NULL DEFAULT {NOW},
  updated_ts BIGINT NOT NULL DEFAULT {NOW},
  UNIQUE (provider, extern_uid),
  UNIQUE (user_id, provider)
)""",
    "CREATE INDEX idx_user_identity_user_id ON user_identity (user_id)",
]
