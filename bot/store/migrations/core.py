"""Core tables: intake, alerts and their timelines, wake-ups, outbox, cards."""

STEPS = [
    """
    CREATE TABLE inbound (
        key TEXT PRIMARY KEY,          -- platform:event_id, recorded once
        at REAL NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,            -- codeword | lone | backup | lockdown ...
        ref TEXT NOT NULL DEFAULT '',  -- codeword key, session id ...
        severity TEXT NOT NULL,
        person TEXT,                   -- who raised it, or whom it is about
        branch TEXT,
        title TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'open',   -- open | acked | resolved
        ladder TEXT NOT NULL,          -- JSON snapshot taken when the alert started
        tier INTEGER NOT NULL DEFAULT 0,
        repeats INTEGER NOT NULL DEFAULT 0,
        ack_reply TEXT,
        reply_platform TEXT,
        reply_chat TEXT,
        drill INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        acked_by TEXT, acked_at REAL,
        resolved_by TEXT, resolved_at REAL
    );
    CREATE INDEX alerts_status ON alerts(status);
    CREATE TABLE alert_events (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts(id),
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX alert_events_alert ON alert_events(alert_id);
    CREATE TABLE alert_recipients (
        alert_id INTEGER NOT NULL,
        person TEXT NOT NULL,
        PRIMARY KEY (alert_id, person)
    );
    CREATE TABLE wakeups (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        ref TEXT NOT NULL,
        due_at REAL NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'  -- pending | done | cancelled
    );
    CREATE INDEX wakeups_pending ON wakeups(status, due_at);
    CREATE INDEX wakeups_ref ON wakeups(kind, ref, status);
    CREATE TABLE cards (
        key TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        text TEXT NOT NULL,
        buttons TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL DEFAULT 'send',     -- send | edit
        person TEXT,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        user_id TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        buttons TEXT NOT NULL DEFAULT '[]',
        priority INTEGER NOT NULL,
        card TEXT,
        card_version INTEGER,
        edit_of INTEGER,                       -- for edits: the outbox row of the message
        alert_id INTEGER,
        tag TEXT NOT NULL DEFAULT '',          -- notify | reply | ...: lets an ack cancel queued notifies
        form TEXT, form_ref TEXT NOT NULL DEFAULT '',
        ephemeral INTEGER NOT NULL DEFAULT 0,
        attachment TEXT,
        status TEXT NOT NULL DEFAULT 'pending', -- pending | sending | sent | failed | cancelled
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        created_at REAL NOT NULL,
        sent_at REAL,
        message_ref TEXT,                      -- the platform's id once sent
        error TEXT
    );
    CREATE INDEX outbox_due ON outbox(status, next_at);
    CREATE INDEX outbox_card ON outbox(card, status);
    CREATE INDEX outbox_alert ON outbox(alert_id, status);
    """,
    """
    ALTER TABLE outbox ADD COLUMN digest TEXT;     -- several alarm cards sent as one message share this key
    ALTER TABLE outbox ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;  -- claimed by a process that died
    CREATE TABLE outages (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        since REAL NOT NULL,           -- first failed send
        told_at REAL,                  -- when admins and timelines were told
        ended_at REAL                  -- first successful send afterwards
    );
    CREATE INDEX outbox_platform ON outbox(platform, status);
    CREATE INDEX outbox_digest ON outbox(digest) WHERE digest IS NOT NULL;
    """,
    """
    CREATE TABLE heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at REAL NOT NULL               -- the running process writes this every 15 s (bot/health.py)
    );
    """,
    """
    CREATE TABLE lease (
        name TEXT PRIMARY KEY,         -- 'active': which instance may poll, fire wake-ups and send (bot/lease.py)
        holder TEXT NOT NULL,          -- host, pid and a random id of the holding process
        generation INTEGER NOT NULL,   -- +1 at each takeover; a write carrying an older one is refused
        since REAL NOT NULL,           -- when this holder took it
        renewed_at REAL NOT NULL,
        expires_at REAL NOT NULL       -- a standby takes over once the database's clock passes this
    );
    """,
    """
    CREATE TABLE relay (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,      -- platform:event id: a retry that reaches another instance is stored once
        platform TEXT NOT NULL,
        body TEXT NOT NULL,            -- the webhook request as it came to a standby (bot/relay.py)
        headers TEXT NOT NULL DEFAULT '{}',
        at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE alert_about (
        alert_id INTEGER NOT NULL,     -- an alert about people besides alerts.person (a roll call's silent
        person TEXT NOT NULL,          -- people): never sent to them, never acknowledged or resolved by them
        PRIMARY KEY (alert_id, person)
    );
    CREATE INDEX outbox_person ON outbox(person, id);  -- a typed button label looks at the person's newest messages
    """,
    """
    ALTER TABLE alert_events ADD COLUMN meta TEXT;  -- JSON facts of an event ({"platform": ...}): read, never parsed from text
    UPDATE alert_events SET meta='{"platform": "telegram"}' WHERE kind IN ('outage', 'outage_over') AND text LIKE 'Telegram %';
    UPDATE alert_events SET meta='{"platform": "slack"}' WHERE kind IN ('outage', 'outage_over') AND text LIKE 'Slack %';
    UPDATE alert_events SET meta='{"platform": "console"}' WHERE kind IN ('outage', 'outage_over') AND text LIKE 'the console %';
    """,
]
