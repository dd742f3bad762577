"""The incidents capability's personal data: reports, notes, reads, drafts and welfare follow-up.

Erase keeps the record of an incident (the employer's health and safety record, and evidence should
a claim be made) but takes the person out of it: their key, name and phone number. A RIDDOR-reportable
incident stays whole for 3 years from when it happened (RIDDOR 2013 reg. 12: the record must say who
was hurt), and the dry run says so. Their own words in the record are kept as the description of what
happened; every other copy of them (messages, cards, timelines) is replaced by the other owners.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from bot.core_data import delete_cards
from bot.forms import INCIDENT
from bot.personal_data import (
    Conn,
    Done,
    Found,
    Holding,
    Owner,
    Subject,
    delete_key,
    matches,
    policy,
    scrubbed,
    section,
    set_key,
)
from bot.unit import cancel_wakeups

from . import incident, welfare

RECORD = "the incident retention (SAFERBOT_RETENTION_YEARS, 6 years from when it was logged), then anonymised"
RIDDOR_YEARS = 3

INCIDENTS = Holding("incidents", ("reporter", "reviewed_by"), ("text", "answers", "police_ref"), RECORD,
                    "the record of an incident: health and safety duty, evidence for claims, RIDDOR")
NOTES = Holding("incident_notes", ("author",), ("text",), RECORD + " (with the incident)",
                "managers' follow-up of an incident")
AUDIT = Holding("incident_audit", ("reader",), ("ref",), RECORD, "who read or exported which incident (accountability)")
DRAFTS = Holding("incident_drafts", ("person",), ("answers",), "until the form is sent or the incident is purged",
                 "a form being filled in, so an answer is never lost")
CHECKLIST = Holding("welfare_checklist", ("done_by",), ("item",), RECORD + " (with the incident)",
                    "the welfare checklist after a serious incident")
CHECKINS = Holding("welfare_checkins", ("person",), ("answer", "offset_label"), RECORD + " (with the incident)",
                   "welfare check-ins with the person affected")


TYPED = {f.name for f in INCIDENT.fields if f.kind in ("text", "long_text")}  # not a choice, a yes/no or a date


def _words(given: dict) -> list[str]:
    """What the person typed into the form (their own words), not the choices everyone picks from."""
    return [v for k, v in given.items() if k in TYPED and isinstance(v, str)]


def _incidents(conn: Conn, subject: Subject) -> Found:
    rows, by_text, words = [], [], []
    for r in conn.execute("SELECT * FROM incidents ORDER BY id").fetchall():
        given = incident.answers(r)
        roles = []
        if subject.key and r["reporter"] == subject.key:
            roles.append("reporter")
            words += [r["text"], *_words(given)]
        if subject.key and r["reviewed_by"] == subject.key:
            roles.append("reviewer")
        named = Subject(subject.key, subject.names, subject.phones)
        rest = " ".join([r["text"] or "", r["police_ref"] or "", *(
            str(v) for k, v in given.items() if k not in ("affected_names", "witnesses"))])
        hits = {"affected person": matches(named, given.get("affected_names")),
                "witness": matches(named, given.get("witnesses")),
                "named in the text": matches(named, rest),
                "quotes their words": [] if "reporter" in roles else matches(Subject(None, words=subject.words), rest)}
        roles += [role for role, h in hits.items() if h]
        by_text += [f"{r['ref']}: {', '.join(map(repr, h))} ({role})" for role, h in hits.items() if h]
        if roles:
            rows.append({**dict(r), "answers": given, "their_part": ", ".join(roles)})
    return Found("Incidents they reported, reviewed or are named in", INCIDENTS.retention, rows, by_text, words)


def about(conn: Conn, subject: Subject) -> list[Found]:
    mine = _incidents(conn, subject)
    ids = {r["id"] for r in mine.rows}
    notes = section(conn, NOTES, subject, "Notes on incidents: by them, on their incidents, or naming them",
                    lambda r: f"note {r['id']} on incident {r['incident_id']}", lambda r: [r["text"]])
    have = {n["id"] for n in notes.rows}
    notes.rows += [dict(r) for r in conn.execute("SELECT * FROM incident_notes ORDER BY id").fetchall()
                   if r["incident_id"] in ids and r["id"] not in have]  # by others, on an incident of theirs
    reads = section(conn, AUDIT, subject, "Reads and exports: by them, and of their incidents",
                    lambda r: f"audit {r['id']}")
    have = {a["id"] for a in reads.rows}
    reads.rows += [dict(r) for r in conn.execute("SELECT * FROM incident_audit ORDER BY id").fetchall()
                   if r["incident_id"] in ids and r["id"] not in have]
    drafts = section(conn, DRAFTS, subject, "Incident forms not yet sent (drafts)",
                     lambda r: f"draft of incident {r['incident_id']}", lambda r: _words(json.loads(r["answers"] or "{}")))
    return [mine, notes, reads, drafts,
            section(conn, CHECKLIST, subject, "Welfare checklist items they ticked", lambda r: f"incident {r['incident_id']}"),
            section(conn, CHECKINS, subject, "Welfare check-ins", lambda r: f"check-in {r['id']}")]


def _riddor_until(r) -> float | None:
    """The end of the 3 years a RIDDOR-reportable incident's record must be kept, if it is one."""
    if not r["riddor"]:
        return None
    when = datetime.fromtimestamp(r["occurred_at"] or r["created_at"], UTC)
    try:
        return when.replace(year=when.year + RIDDOR_YEARS).timestamp()
    except ValueError:  # 29 February
        return when.replace(year=when.year + RIDDOR_YEARS, day=28).timestamp()


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    """Take the person out of every incident; keep what the law needs and say why."""
    key, now = subject.key, time.time()
    done = Done()
    names_only = Subject(key, subject.names, subject.phones)  # the record keeps the description of what happened
    riddor: dict[str, float] = {}
    for r in conn.execute("SELECT * FROM incidents ORDER BY id").fetchall():
        until = _riddor_until(r)
        mine = key is not None and r["reporter"] == key
        named = bool(matches(names_only, f"{r['text']} {r['answers']} {r['police_ref'] or ''}"))
        if until and until > now and (mine or named):
            riddor[r["ref"]] = until
            done.kept.append(f"{r['ref']}: kept whole, their name included, until {_day(until)}: a RIDDOR-reportable"
                             f" incident's record must be kept for {RIDDOR_YEARS} years and say who was hurt"
                             " (RIDDOR 2013 reg. 12)")
        elif mine:
            done.kept.append(f"{r['ref']}: the description of what happened stays as the record of the incident until"
                             f" it is purged (health and safety record, evidence should a claim be made); their key,"
                             " name and phone number are taken out")
    keep = sorted(riddor)
    besides = f"ref NOT IN ({','.join('?' * len(keep))})" if keep else "1=1"
    done.changed += scrubbed(conn, INCIDENTS, names_only, dry_run, besides, tuple(keep))
    # an incident someone else logged (a stub quoting an alarm's timeline) is a copy of their words
    done.changed += scrubbed(conn, INCIDENTS, subject, dry_run, f"{besides} AND (reporter IS NULL OR reporter != ?)",
                             (*keep, key or ""))
    done.changed += set_key(conn, "incidents", INCIDENTS.person_columns, key, None, dry_run)
    done.changed += scrubbed(conn, NOTES, names_only, dry_run)
    done.changed += set_key(conn, "incident_notes", ("author",), key, None, dry_run)
    done.changed += set_key(conn, "incident_audit", ("reader",), key, "erased", dry_run)
    done.changed += delete_key(conn, "incident_drafts", "person", key, dry_run)
    done.changed += scrubbed(conn, DRAFTS, subject, dry_run)  # others' unsent forms that name them
    done.changed += set_key(conn, "welfare_checklist", ("done_by",), key, None, dry_run)
    done.changed += delete_key(conn, "welfare_checkins", "person", key, dry_run)
    done.changed += scrubbed(conn, CHECKINS, names_only, dry_run)
    return done


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def due(conn: Conn, cutoff: float, delete: bool) -> list:
    """Incidents logged before `cutoff` that the purge takes (anonymised ones again only to delete them)."""
    where = "created_at < ?" + ("" if delete else " AND anonymised_at IS NULL")
    return conn.execute(f"SELECT * FROM incidents WHERE {where} ORDER BY created_at", (cutoff,)).fetchall()


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    """Incidents past retention: anonymised (category and count kept) or deleted, with everything hanging on them."""
    rules = policy(now)
    rows = due(conn, rules.cutoff, rules.delete)
    done = Done([f"incidents: {r['ref']}" for r in rows])
    if dry_run:
        return done
    ids = [(r["id"],) for r in rows]
    for table in ("incident_notes", "incident_drafts", "welfare_checklist", "welfare_checkins"):
        conn.executemany(f"DELETE FROM {table} WHERE incident_id=?", ids)
    delete_cards(conn, [welfare.card_key(i) for (i,) in ids])
    conn.execute("DELETE FROM incident_audit WHERE at < ?", (rules.cutoff,))
    if rules.delete:
        conn.executemany("DELETE FROM incidents WHERE id=?", ids)
    else:
        for r in rows:
            keep = {k: v for k, v in incident.answers(r).items() if k in ("category", "affected")}
            conn.execute("UPDATE incidents SET reporter=NULL, text='', answers=?, police_ref=NULL, reviewed_by=NULL,"
                         " anonymised_at=? WHERE id=?", (json.dumps(keep), now, r["id"]))
    cancel_wakeups(conn, (incident.REMIND, incident.OVERDUE, incident.RIDDOR), [r["id"] for r in rows])
    return done


OWNER = Owner("incidents", (INCIDENTS, NOTES, AUDIT, DRAFTS, CHECKLIST, CHECKINS), about, forget, purge)
