"""Tables for registration: invites and bound chat accounts (table `bindings`: person, platform, user_id).

`bindings` is read into the directory at start (registration.load_bindings, last in the App's start-up list).
Invite codes are stored only as a SHA-256 hash: the link itself is the secret.
`platform_info` holds small facts a transport learns at start (the Telegram bot's
username) so the command line can build invite links.
"""

STEPS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS bindings (
        person TEXT NOT NULL,
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS bindings_account ON bindings(platform, user_id);
    CREATE INDEX IF NOT EXISTS bindings_person ON bindings(person, platform);
    CREATE TABLE invites (
        code_hash TEXT PRIMARY KEY,
        person TEXT NOT NULL,
        platform TEXT NOT NULL DEFAULT 'telegram',
        created_by TEXT,               -- person key of the admin, or 'command line'
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL,
        used_by TEXT,                  -- the chat account that used it
        status TEXT NOT NULL DEFAULT 'open'   -- open | used | replaced
    );
    CREATE INDEX invites_person ON invites(person, status);
    CREATE TABLE platform_info (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
]
