"""Tables for privacy: people who left (their records keep pointing at them, not at their old key)."""

STEPS: list[str] = [
    """
    CREATE TABLE people_retired (
        key TEXT PRIMARY KEY,          -- e.g. alice~1: what the leaver's records now name
        was TEXT NOT NULL,             -- the roster key they had (free for a new person)
        name TEXT,                     -- their name when they left, so records still read well
        at REAL NOT NULL,
        by TEXT
    );
    CREATE INDEX people_retired_was ON people_retired(was);
    """,
]
