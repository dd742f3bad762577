"""Tables for lockdowns, roll calls and drills (handlers/lockdown.py, handlers/drill.py).

Until this component existed, lockdowns and rollcall were created by the roster component's first
step (the component was then called "people") and drills by core's: a store migrated before then
has them already, so this step creates them only if missing (IF NOT EXISTS), with exactly the
columns they had.
"""

STEPS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS lockdowns (
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
    CREATE TABLE IF NOT EXISTS rollcall (
        lockdown_id INTEGER NOT NULL,
        person TEXT NOT NULL,
        branch TEXT,
        answer TEXT,                   -- NULL (no answer) | safe | help
        at REAL,
        alert_id INTEGER,              -- their "I need help" alert
        noanswer_alert INTEGER,        -- the alert raised because they had not answered
        PRIMARY KEY (lockdown_id, person)
    );
    CREATE TABLE IF NOT EXISTS drills (
        branch TEXT PRIMARY KEY,       -- everything raised here is an exercise
        since REAL NOT NULL,
        by TEXT
    );
    """,
]
