"""The core's personal data: messages (outbox), cards, alerts and their timelines, relayed requests.

Declared here, next to the core, as a `bot.personal_data.Owner` (added in bot/compose.py). The rest of
the core's tables hold no personal data and are declared so a test can tell them from forgotten ones.
"""

from __future__ import annotations

import json

from .personal_data import (
    Conn,
    Done,
    Found,
    Holding,
    Owner,
    Subject,
    delete_key,
    policy,
    scrubbed,
    section,
    set_key,
)

MESSAGES = "delivered message bodies: SAFERBOT_OUTBOX_RETENTION (30 days); the row: the incident retention"
RECORDS = "the incident retention (SAFERBOT_RETENTION_YEARS, 6 years), then anonymised or deleted"

OUTBOX = Holding("outbox", ("person",), ("text", "buttons", "form", "attachment", "error"), MESSAGES,
                 "messages the bot sent or is sending; kept so a failed send is retried and a card can be edited")
CARDS = Holding("cards", (), ("text", "buttons"), "while the alert, request or lockdown it shows is kept",
                "the current text of a card, so every copy of it can be edited")
ALERTS = Holding("alerts", ("person", "acked_by", "resolved_by"), ("title", "details", "ack_reply"), RECORDS,
                 "who raised, took and resolved an alarm: health and safety record")
EVENTS = Holding("alert_events", ("actor",), ("text", "meta"), RECORDS, "an alarm's timeline: who did what, when")
RECIPIENTS = Holding("alert_recipients", ("person",), (), RECORDS, "who was sent an alarm")
ABOUT = Holding("alert_about", ("person",), (), RECORDS, "whom an alarm is about")
RELAY = Holding("relay", (), ("body", "headers", "error"), "until handed to the active instance (seconds); "
                "a row set aside: the message retention (30 days)", "a chat event a standby received, kept so it is not lost")
NONE = "no personal data"
QUIET = tuple(Holding(t, (), (), "", why) for t, why in (
    ("inbound", "ids of chat events already handled (no text), kept for the message retention"),
    ("wakeups", "timers: a kind and the id of the thing they wake"),
    ("lease", "which instance is active"),
    ("heartbeat", "the instance's last sign of life"),
    ("outages", "when a chat platform was unreachable"),
    ("schema_version", "the store's migrations"),
))


def _sender(body: str) -> tuple[str, str]:
    """(platform user id, display name) of who sent a relayed chat event, where the body says."""
    try:
        event = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(event, dict):
        return "", ""
    for part in ("message", "edited_message", "callback_query"):
        who = event.get(part, {}).get("from") if isinstance(event.get(part), dict) else None
        if isinstance(who, dict):  # Telegram
            name = f"{who.get('first_name') or ''} {who.get('last_name') or ''}".strip()
            return str(who.get("id") or ""), name
    inner = event.get("event") if isinstance(event.get("event"), dict) else event
    user = inner.get("user")  # Slack: an event's user id, or an interaction's user object
    return (str(user.get("id") or ""), str(user.get("name") or "")) if isinstance(user, dict) else (str(user or ""), "")


def _accounts(conn: Conn, subject: Subject) -> set[tuple[str, str]]:
    """(platform, user id) of the person's chat accounts: bound ones (the Subject carries them: registration
    owns the bindings) and those the bot wrote to for them."""
    if not subject.key:
        return set()
    return set(subject.accounts) | {(r[0], str(r[1])) for r in conn.execute(
        "SELECT platform, user_id FROM outbox WHERE person=? AND user_id != ''", (subject.key,)).fetchall()}


def _to_them(conn: Conn, subject: Subject) -> list[int]:
    """Outbox rows sent to the person: by key, or (a reply, a form question) to one of their accounts."""
    key = subject.key
    accounts = _accounts(conn, subject)
    return [r[0] for r in conn.execute("SELECT id, person, platform, user_id FROM outbox ORDER BY id").fetchall()
            if r[1] == key or (r[2], str(r[3])) in accounts] if key else []


def _relay_from(conn: Conn, subject: Subject) -> list[int]:
    """Relayed events sent by the person: from one of their chat accounts, or under their name."""
    accounts = _accounts(conn, subject)
    names = {n.lower() for n in subject.names}
    out = []
    for r in conn.execute("SELECT id, platform, body FROM relay ORDER BY id").fetchall():
        user, name = _sender(r[2] or "")
        if (user and (r[1], user) in accounts) or (name and name.lower() in names):
            out.append(r[0])
    return out


def _alert_label(r: dict) -> str:
    return f"alert {r.get('alert_id') or r.get('id')}"


def about(conn: Conn, subject: Subject) -> list[Found]:
    return [
        _messages(conn, subject),
        section(conn, CARDS, subject, "Cards (live messages) naming them", lambda r: f"card {r['key']}"),
        section(conn, ALERTS, subject, "Alarms they raised, took or resolved, or that name them", _alert_label),
        section(conn, EVENTS, subject, "Alarm timelines: what they did, or naming them", _alert_label),
        section(conn, RECIPIENTS, subject, "Alarms they were sent", _alert_label),
        section(conn, ABOUT, subject, "Alarms about them", _alert_label),
        _relay(conn, subject),
    ]


def _messages(conn: Conn, subject: Subject) -> Found:
    found = section(conn, OUTBOX, subject, "Messages sent to them, or naming them", lambda r: f"message {r['id']}")
    have = {r["id"] for r in found.rows}
    found.rows += [dict(conn.execute("SELECT * FROM outbox WHERE id=?", (i,)).fetchone())
                   for i in _to_them(conn, subject) if i not in have]  # replies to their account, by id
    found.rows.sort(key=lambda r: r["id"])
    return found


def _relay(conn: Conn, subject: Subject) -> Found:
    found = section(conn, RELAY, subject, "Chat events a standby received, from or naming them",
                    lambda r: f"relay {r['id']}")
    have = {r["id"] for r in found.rows}
    for rid in _relay_from(conn, subject):
        row = dict(conn.execute("SELECT * FROM relay WHERE id=?", (rid,)).fetchone())
        found.rows += [row] if rid not in have else []
        found.matched_by_text.append(f"relay {rid}: sent from their chat account or under their name")
    return found


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    key, verb = subject.key, "would" if dry_run else "did"
    done = Done()
    mine = _relay_from(conn, subject)  # their own raw messages (found by their accounts: before those go)
    if mine:
        done.changed.append(f"relay: {verb} delete {len(mine)} chat event(s) they sent that were never handed over")
        if not dry_run:
            conn.executemany("DELETE FROM relay WHERE id=?", [(i,) for i in mine])
    editing = {r[0] for r in conn.execute("SELECT edit_of FROM outbox WHERE edit_of IS NOT NULL AND status IN"
                                          " ('pending', 'sending')").fetchall()}
    sent = [(i,) for i in _to_them(conn, subject) if i not in editing]  # one being edited keeps its address till done
    if sent:
        done.changed.append(f"outbox: {verb} clear the text and their chat address of {len(sent)} message(s) to them")
        if not dry_run:
            conn.executemany("UPDATE outbox SET text='', buttons='[]', form=NULL, attachment=NULL, error=NULL,"
                             " chat_id='', user_id='' WHERE id=? AND status NOT IN ('pending', 'sending')", sent)
    if key and not dry_run:
        conn.execute("UPDATE outbox SET status='cancelled' WHERE person=? AND status='pending'", (key,))
    for holding in (OUTBOX, CARDS, ALERTS, EVENTS, RELAY):
        done.changed += scrubbed(conn, holding, subject, dry_run)
    done.changed += set_key(conn, "outbox", ("person",), key, None, dry_run)
    done.changed += set_key(conn, "alerts", ALERTS.person_columns, key, None, dry_run)
    done.changed += set_key(conn, "alert_events", ("actor",), key, None, dry_run)
    done.changed += delete_key(conn, "alert_recipients", "person", key, dry_run)
    done.changed += delete_key(conn, "alert_about", "person", key, dry_run)
    return done


def delete_cards(conn: Conn, keys: list[str]) -> None:
    """A capability's cards (alert:N, backup:N, lockdown:N:info...) go with the thing they show."""
    conn.executemany("DELETE FROM cards WHERE key=?", [(k,) for k in keys])


def _ids(conn: Conn, sql: str, *args: object) -> list[tuple[int]]:
    return [(r[0],) for r in conn.execute(sql, args).fetchall()]


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    """Alerts past retention and their copies; delivered message bodies; relayed requests left behind."""
    rules = policy(now)
    cutoff, delete = rules.cutoff, rules.delete
    alerts = _ids(conn, "SELECT id FROM alerts WHERE created_at < ? AND status != 'open'"
                        " AND (details != '' OR title != '' OR person IS NOT NULL OR ?)", cutoff, int(delete))
    finished = "status NOT IN ('pending', 'sending')"
    old_relay = conn.execute("SELECT COUNT(*) FROM relay WHERE at < ?", (rules.messages_cutoff,)).fetchone()[0]
    done = Done([f"alerts: {len(alerts)}"] if alerts else [])
    if old_relay:
        done.changed.append(f"relay: {old_relay} request(s) older than the message retention")
    if dry_run:
        return done
    conn.executemany("DELETE FROM alert_events WHERE alert_id=?", alerts)
    conn.executemany("DELETE FROM alert_recipients WHERE alert_id=?", alerts)
    conn.executemany("DELETE FROM alert_about WHERE alert_id=?", alerts)
    delete_cards(conn, [f"alert:{i}" for (i,) in alerts])
    conn.executemany(f"DELETE FROM outbox WHERE alert_id=? AND {finished}", alerts)
    if delete:
        conn.executemany("DELETE FROM alerts WHERE id=?", alerts)
    else:
        conn.executemany("UPDATE alerts SET person=NULL, title='', details='', ack_reply=NULL, reply_chat=NULL,"
                         " acked_by=NULL, resolved_by=NULL WHERE id=?", alerts)
    conn.execute(f"DELETE FROM outbox WHERE created_at < ? AND {finished} AND id NOT IN (SELECT edit_of FROM outbox"
                 " WHERE edit_of IS NOT NULL AND status IN ('pending', 'sending'))", (cutoff,))
    conn.execute(f"UPDATE outbox SET text='', buttons='[]', attachment=NULL, form=NULL, error=NULL"
                 f" WHERE created_at < ? AND {finished} AND (text != '' OR buttons != '[]' OR attachment IS NOT NULL)",
                 (rules.messages_cutoff,))
    conn.execute("DELETE FROM inbound WHERE at < ?", (rules.messages_cutoff,))
    conn.execute("DELETE FROM relay WHERE at < ?", (rules.messages_cutoff,))
    return done


OWNER = Owner("core", (OUTBOX, CARDS, ALERTS, EVENTS, RECIPIENTS, ABOUT, RELAY, *QUIET), about, forget, purge)
