"""Tables for the lone capability: sessions and what happened in each."""

STEPS: list[str] = [
    """
    CREATE TABLE lone_sessions (
        id INTEGER PRIMARY KEY,
        person TEXT NOT NULL,
        branch TEXT,
        note TEXT NOT NULL DEFAULT '',
        platform TEXT,                         -- where it was started: reminders go there
        started_at REAL NOT NULL,
        deadline REAL NOT NULL,                -- when the next check-in is due
        every INTEGER,                         -- periodic: seconds between check-ins; NULL: one deadline
        ends_at REAL NOT NULL,                 -- when the whole session is over
        last_checkin REAL,
        stage TEXT NOT NULL DEFAULT 'waiting', -- waiting | reminded | asked | escalated
        status TEXT NOT NULL DEFAULT 'live',   -- live | finished | duress | closed
        alert_id INTEGER,                      -- the missed-check-in alert, while one is live
        ended_at REAL,
        ended_by TEXT
    );
    CREATE UNIQUE INDEX lone_one_live ON lone_sessions(person) WHERE status='live';
    CREATE INDEX lone_sessions_status ON lone_sessions(status, branch);
    CREATE TABLE lone_events (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES lone_sessions(id),
        at REAL NOT NULL,
        kind TEXT NOT NULL,                    -- started | reminded | asked | escalated | checkin | extended ...
        text TEXT NOT NULL
    );
    CREATE INDEX lone_events_session ON lone_events(session_id);
    """,
    # one sweep wake-up for all sessions instead of one wake-up per session step
    """
    ALTER TABLE lone_sessions ADD COLUMN next_at REAL;
    CREATE INDEX lone_sessions_due ON lone_sessions(next_at) WHERE status='live';
    UPDATE lone_sessions SET next_at=deadline WHERE status='live' AND stage!='escalated';
    UPDATE wakeups SET status='cancelled' WHERE kind IN ('lone.remind', 'lone.due', 'lone.overdue')
        AND status='pending';
    INSERT INTO wakeups(kind, ref, due_at) SELECT 'lone.sweep', 'all', MIN(next_at) FROM lone_sessions
        WHERE status='live' HAVING MIN(next_at) IS NOT NULL;
    """,
    # a drill is fixed when the session starts: the escalation of a session started for real stays real
    """
    ALTER TABLE lone_sessions ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;
    """,
    # the sweep's reads (the due sessions in order, the next one due) walk this index; with only
    # lone_sessions_status (status, branch) and the partial lone_sessions_due, SQLite's planner took the
    # former and sorted every live session twice a sweep (10,000 live: a second's lag under the lone bench)
    """
    DROP INDEX lone_sessions_due;
    CREATE INDEX lone_sessions_next ON lone_sessions(status, next_at);
    """,
]
