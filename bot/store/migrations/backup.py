"""Tables for backup requests (handlers/backup.py): who asked for help on the floor, and who answered.

Until this component existed, the roster component's first step (the component was then called
"people") created these tables: a store migrated before then has them already, so this step
creates them only if missing (IF NOT EXISTS), with exactly the columns they had.
"""

STEPS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS backup_requests (
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
    CREATE TABLE IF NOT EXISTS backup_answers (
        request_id INTEGER NOT NULL,
        person TEXT NOT NULL,
        answer TEXT,                   -- NULL (asked) | coming | cant
        at REAL,
        PRIMARY KEY (request_id, person)
    );
    """,
]
