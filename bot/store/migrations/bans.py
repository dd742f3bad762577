"""Tables for bans, reviews, acceptable behaviour agreements and heads-ups (handlers/bans*.py, headsup.py)."""

STEPS: list[str] = [
    """
    CREATE TABLE bans (
        id INTEGER PRIMARY KEY,                -- shown as BAN-<id>
        kind TEXT NOT NULL,                    -- today | verbal | written | exclusion
        status TEXT NOT NULL,                  -- pending (on the spot, unconfirmed) | active | lifted | lapsed | ended | expired
        subject TEXT NOT NULL,                 -- the person's name or description (free text)
        description TEXT NOT NULL DEFAULT '',  -- how staff will know them
        branches TEXT NOT NULL,                -- branch keys, comma separated, or 'all'
        start_at REAL NOT NULL,
        end_at REAL,
        review_at REAL,
        category TEXT,                         -- verbal abuse | threatening | violence | weapon | theft | other byelaw
        basis TEXT NOT NULL DEFAULT '',        -- the byelaw or policy relied on
        reasons TEXT NOT NULL DEFAULT '',
        account_invited TEXT,                  -- yes | no
        account_said TEXT NOT NULL DEFAULT '',
        adjustments TEXT NOT NULL DEFAULT '',
        letter TEXT NOT NULL DEFAULT '',       -- date and how the letter was sent
        appeal TEXT NOT NULL DEFAULT '',
        incidents TEXT NOT NULL DEFAULT '',    -- incident references, comma separated
        aba TEXT NOT NULL DEFAULT '',          -- acceptable behaviour agreement conditions, when ended with one
        from_ban INTEGER,                      -- the on-the-spot ban this decision changed
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        decided_by TEXT, decided_at REAL,      -- the manager who confirmed or decided it
        ended_by TEXT, ended_at REAL,
        anonymised_at REAL
    );
    CREATE INDEX bans_status ON bans(status, end_at);
    CREATE TABLE ban_audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,                   -- person key, cli:<os user>, or 'system'
        ban_id INTEGER,
        action TEXT NOT NULL,                  -- view | list | record | confirm | lift | extend | end | lapse | expire | export ...
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX ban_audit_ban ON ban_audit(ban_id, at);
    CREATE TABLE ban_disclosures (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        recipient TEXT NOT NULL,               -- the partnership
        agreement TEXT NOT NULL,               -- the information-sharing agreement's reference
        basis TEXT NOT NULL,                   -- the lawful basis given
        bans TEXT NOT NULL                     -- BAN references disclosed, comma separated
    );
    CREATE TABLE ban_drafts (
        person TEXT PRIMARY KEY,               -- the manager filling the chat form
        pos INTEGER NOT NULL DEFAULT 0,
        answers TEXT NOT NULL DEFAULT '{}',
        from_ban INTEGER,
        updated_at REAL NOT NULL
    );
    CREATE TABLE headsups (
        id INTEGER PRIMARY KEY,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        branches TEXT NOT NULL,                -- comma separated
        description TEXT NOT NULL,
        todo TEXT NOT NULL,
        expires_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'live',   -- live | withdrawn
        withdrawn_at REAL
    );
    """,
]
