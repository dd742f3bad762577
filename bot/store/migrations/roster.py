"""Tables for the roster capability (handlers/roster.py): cover, roster edits and their audit, who is on shift.

The component was first called "people"; a store that recorded it under that name in schema_version
gets the new name recorded too when it is next migrated, the old record kept as an alias an older
saferbot still starts on (RENAMED in __init__.py). Step 1 also created the backup and lockdown tables
until they moved to their owners' components
(backup.py, lockdown.py, which create them only if missing): on a store migrated before the move
those tables exist already, and nothing is created twice.
"""

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
    """,
    # who is on shift (handlers/roster.py): created by core's step 1 before it moved here; kept as it was
    """
    CREATE TABLE IF NOT EXISTS shifts (
        person TEXT PRIMARY KEY,
        on_shift INTEGER NOT NULL,
        since REAL NOT NULL
    );
    """,
]
