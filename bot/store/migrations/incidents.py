"""Tables for the incidents capability."""

STEPS: list[str] = [
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,            -- INC-2026-0042
        year INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        reporter TEXT,                       -- person key (blank once anonymised)
        branch TEXT,
        created_at REAL NOT NULL,
        text TEXT NOT NULL DEFAULT '',       -- the stub as typed
        alert_id INTEGER UNIQUE,             -- set when a resolved alert made the stub
        drill INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'stub', -- stub | complete | reviewed
        answers TEXT NOT NULL DEFAULT '{}',  -- the completed form, JSON
        occurred_at REAL,
        category TEXT,
        completed_at REAL,
        completed_via TEXT,
        serious INTEGER NOT NULL DEFAULT 0,
        reviewed_by TEXT, reviewed_at REAL,
        riddor INTEGER NOT NULL DEFAULT 0, riddor_due REAL,
        police_ref TEXT,
        anonymised_at REAL,
        UNIQUE (year, seq)
    );
    CREATE INDEX incidents_branch ON incidents(branch, created_at);
    CREATE INDEX incidents_reporter ON incidents(reporter, status);
    CREATE TABLE incident_notes (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        at REAL NOT NULL,
        author TEXT,
        text TEXT NOT NULL
    );
    CREATE TABLE incident_audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        reader TEXT NOT NULL,                -- person key, or cli:<os user>
        incident_id INTEGER,
        ref TEXT NOT NULL,
        action TEXT NOT NULL                 -- read | export
    );
    CREATE TABLE incident_drafts (
        incident_id INTEGER PRIMARY KEY REFERENCES incidents(id),
        person TEXT NOT NULL,
        pos INTEGER NOT NULL DEFAULT 0,      -- index of the question being asked
        answers TEXT NOT NULL DEFAULT '{}',
        active INTEGER NOT NULL DEFAULT 1,   -- 0 once cancelled (answers kept for resume)
        updated_at REAL NOT NULL
    );
    CREATE INDEX incident_drafts_person ON incident_drafts(person, active);
    CREATE TABLE welfare_checklist (
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        item TEXT NOT NULL,
        done_by TEXT,
        done_at REAL,
        PRIMARY KEY (incident_id, item)
    );
    CREATE TABLE welfare_checkins (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        person TEXT NOT NULL,
        offset_label TEXT NOT NULL,          -- 1w, 2w, 4w
        due_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', -- pending | asked | answered
        asked_at REAL,
        answer TEXT,
        answered_at REAL
    );
    CREATE INDEX welfare_checkins_person ON welfare_checkins(person, status);
    """,
]
