"""Tables for the codeword capability: accounts not on the roster that sent a codeword."""

STEPS: list[str] = [
    """
    CREATE TABLE stranger_codewords (
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        day TEXT NOT NULL,            -- local date: the admins are told once per account per day
        display_name TEXT NOT NULL DEFAULT '',
        codeword TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (platform, user_id, day)
    )
    """,
]
