"""Tables for the duty manager's board (bot/board/): one-time sign-in links and the cookie key."""

STEPS: list[str] = [
    """
    CREATE TABLE board_links (
        token_hash TEXT PRIMARY KEY,   -- sha256 of the random token: the token itself is never stored
        person TEXT NOT NULL,          -- whom the link signs in, with the role they had when it was made
        role TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,      -- 10 minutes after it was made
        used_at REAL                   -- a link works once
    );
    CREATE TABLE board_key (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        secret TEXT NOT NULL           -- signs session cookies; one for every instance on this store
    );
    """,
]
