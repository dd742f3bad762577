"""The relay table's bookkeeping (bot/relay.py): a row that keeps failing is set aside, not retried for ever."""

STEPS = [
    """
    ALTER TABLE relay ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;  -- failed hand-offs so far
    ALTER TABLE relay ADD COLUMN aside_at REAL;                      -- set aside (kept for an admin) at
    ALTER TABLE relay ADD COLUMN error TEXT;                         -- why its last hand-off failed
    """,
]
