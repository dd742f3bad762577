"""Tables for the phone rung (handlers/phone.py): contact methods, verification codes, and every text or call.

- `contact_methods`: one row per person and channel (sms | voice), with its number and state:
  pending until the person proves the number by typing back a code, verified, or disabled (STOP,
  a permanent failure, an admin). Only verified rows are ever used.
- `phone_codes`: verification codes, kept only as a SHA-256 hash; sends are counted per number.
- `phone_sends`: every text or call the ladder made (or refused: throttled), per number. The
  throttles count these rows, so every instance on one store shares them; a provider's callback
  finds its alert and tier here by the outbox row id.
"""

STEPS: list[str] = [
    """
    CREATE TABLE contact_methods (
        person TEXT NOT NULL,
        channel TEXT NOT NULL,            -- sms | voice
        number TEXT NOT NULL,             -- E.164, +447700900123
        state TEXT NOT NULL DEFAULT 'pending',   -- pending | verified | disabled
        reason TEXT NOT NULL DEFAULT '',  -- why disabled (STOP texted, permanent failure, by an admin)
        updated_at REAL NOT NULL,
        PRIMARY KEY (person, channel)
    );
    CREATE INDEX contact_methods_number ON contact_methods(number, channel);
    CREATE TABLE phone_codes (
        id INTEGER PRIMARY KEY,
        person TEXT NOT NULL,
        number TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        sent_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        tries INTEGER NOT NULL DEFAULT 0,
        used_at REAL
    );
    CREATE INDEX phone_codes_number ON phone_codes(number, sent_at);
    CREATE TABLE phone_sends (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        person TEXT NOT NULL,
        number TEXT NOT NULL,
        channel TEXT NOT NULL,            -- sms | voice
        alert_id INTEGER,
        tier INTEGER NOT NULL DEFAULT 0,
        repeats INTEGER NOT NULL DEFAULT 0,
        outbox_id INTEGER,                -- the outbox row that carries it (none when throttled)
        status TEXT NOT NULL,             -- queued | throttled | delivered | failed | acked | no-ack
        outcome TEXT NOT NULL DEFAULT ''  -- the provider's last word (permanent-failure, busy, ...)
    );
    CREATE INDEX phone_sends_number ON phone_sends(number, channel, at);
    CREATE INDEX phone_sends_outbox ON phone_sends(outbox_id);
    """,
]
