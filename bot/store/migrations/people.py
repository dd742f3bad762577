"""Tables for the people capability: cover, roster edits and their audit, backup, lockdown roll calls."""

STEPS: list[str] = [
    """
    CREATE TABLE covers (
        id INTEGER PRIMARY KEY,
        person TEXT NOT NULL,          -- duty manager for `branch` until `until`, beating the rota
        branch TEXT NOT NULL,
        start REAL NOT NULL,
        until REAL NOT NULL,
        ended_at REAL                  -- said `cover end` early
    );
    CREATE INDEX covers_branch ON covers(branch, until);
    CREATE TABLE roster_overlay (
        key TEXT PRIMARY KEY,          -- person key
        data TEXT,                     -- the person as JSON; NULL when removed
        at REAL NOT NULL,
        by TEXT
    );
    CREATE TABLE roster_audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        by TEXT,                       -- person key, or the command-line user
        via TEXT NOT NULL,             -- chat | cli
        person TEXT NOT NULL,
        action TEXT NOT NULL,          -- add | set | remove
        before TEXT,                   -- JSON
        after TEXT                     -- JSON
    );
    CREATE TABLE backup_requests (
        id INTEGER PRIMARY KEY,
        person TEXT NOT NULL,
        branch TEXT,
        what TEXT NOT NULL DEFAULT '',
        codeword TEXT,                 -- when raised by a codeword (the requester only sees its replies)
        status TEXT NOT NULL DEFAULT 'open',   -- open | stood_down
        drill INTEGER NOT NULL DEFAULT 0,
        alert_id INTEGER,              -- set when nobody came in time and it climbed the ladder
        reply_platform TEXT, reply_chat TEXT,
        created_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE TABLE backup_answers (
        request_id INTEGER NOT NULL,
        person TEXT NOT NULL,
        answer TEXT,                   -- NULL (asked) | coming | cant
        at REAL,
        PRIMARY KEY (request_id, person)
    );
    CREATE TABLE lockdowns (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,            -- lockdown | evacuate
        scope TEXT NOT NULL,           -- branch key, area name or all
        message TEXT NOT NULL,
        by TEXT NOT NULL,
        drill INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'active',   -- active | ended
        created_at REAL NOT NULL,
        ended_at REAL, ended_by TEXT
    );
    CREATE TABLE rollcall (
        lockdown_id INTEGER NOT NULL,
        person TEXT NOT NULL,
        branch TEXT,
        answer TEXT,                   -- NULL (no answer) | safe | help
        at REAL,
        alert_id INTEGER,              -- their "I need help" alert
        noanswer_alert INTEGER,        -- the alert raised because they had not answered
        PRIMARY KEY (lockdown_id, person)
    );
    """,
]
