"""Tables for panic buttons (handlers/trigger.py): the devices, and every press they made."""

STEPS: list[str] = [
    """
    CREATE TABLE trigger_devices (
        id TEXT PRIMARY KEY,             -- in the URL: /trigger/<id>
        name TEXT NOT NULL,              -- "Central - front counter"
        branch TEXT NOT NULL,
        place TEXT NOT NULL,             -- "front counter", on every card
        codeword TEXT NOT NULL,          -- whose alarm a press raises (severity, ladder)
        kind TEXT NOT NULL,              -- signed | capability
        secret TEXT,                     -- signed: the whsec_ secret (HMAC needs it)
        token_hash TEXT,                 -- capability: SHA-256 of the URL token, never the token
        status TEXT NOT NULL DEFAULT 'active',  -- active | disabled
        created_at REAL NOT NULL,
        created_by TEXT,                 -- person key or cli:<os user>
        last_seen REAL,                  -- last heartbeat or press
        silent_since REAL,               -- admins were told it went silent (one notice), until it is back
        test_until REAL                  -- `trigger test`: the next press before this is a test
    );
    CREATE TABLE trigger_presses (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        at REAL NOT NULL,
        webhook_id TEXT,                 -- signed presses: a retry with this id is answered, not raised again
        alert_id INTEGER,                -- the alarm it raised or joined (NULL: a test press)
        test INTEGER NOT NULL DEFAULT 0,
        UNIQUE (device, webhook_id)
    );
    CREATE INDEX trigger_presses_device ON trigger_presses(device, at);
    """,
]
