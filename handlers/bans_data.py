"""The bans capability's personal data (bot/personal_data.py): what it holds, subject access, erase, purge.

A ban record is about a member of the public and may be criminal-offence data (docs/bans.md).
Retention runs from the day the ban ends, by category (verbal abuse 2 years, threatening 3,
violence 5, weapon 10; theft 3 and other byelaw 2); purge then anonymises the record (who, how to
know them, reasons, their account, adjustments, the agreement) and keeps the bare decision for
statistics. An erase request while a ban is in force is refused with the reason.
"""

from __future__ import annotations

import re
import sqlite3
import time

from bot.personal_data import Conn, Done, Found, Holding, Owner, Subject

YEAR = 365.25 * 86400
RETENTION_YEARS = {"verbal abuse": 2, "threatening": 3, "violence": 5, "weapon": 10, "theft": 3,
                   "other byelaw": 2, None: 2}  # None: an on-the-spot ban that was never recorded as a decision
RETENTION = "by category, from the day the ban ends: verbal abuse 2 years, threatening 3, violence 5, weapon 10"
FREE_TEXT = ("subject", "description", "reasons", "account_said", "adjustments", "letter", "appeal", "incidents",
             "aba")
IN_FORCE = ("pending", "active")
HEADSUP_KEEP = 30 * 86400  # a withdrawn heads-up's words are cleared a month after it expired
DRAFT_KEEP = 30 * 86400

HOLDINGS = (
    Holding("bans", ("created_by", "decided_by", "ended_by"), FREE_TEXT, RETENTION,
            "public task and the library byelaws (exclusions); legal obligation, health and safety (warning markers)"),
    Holding("ban_audit", ("actor",), ("detail",), "as long as the ban it is about", "accountability for every view"),
    Holding("ban_disclosures", ("actor",), ("recipient", "basis"), "as long as the bans disclosed",
            "the record of each disclosure to a partnership"),
    Holding("ban_drafts", ("person",), ("answers",), "30 days unused", "a decision being written"),
    Holding("headsups", ("created_by",), ("description", "todo"), "30 days after it expires",
            "warning staff at other branches (health and safety)"),
)


def ref(bid: int) -> str:
    return f"BAN-{bid}"


def _mentions(subject: Subject, *texts: str | None) -> bool:
    words = [n for n in subject.names + subject.phones if n.strip()]
    return any(re.search(r"(?<!\w)" + re.escape(w) + r"(?!\w)", t or "", re.IGNORECASE) for w in words for t in texts)


def _naming(conn: Conn, subject: Subject) -> list[sqlite3.Row]:
    return [b for b in conn.execute("SELECT * FROM bans WHERE anonymised_at IS NULL ORDER BY id")
            if _mentions(subject, *(b[c] for c in FREE_TEXT))]


def about(conn: Conn, subject: Subject) -> list[Found]:
    named = _naming(conn, subject)
    out = [Found("Bans and warnings naming them", RETENTION,
                 [{c: b[c] for c in ("id", "kind", "status", "branches", "start_at", "end_at", "review_at", "category",
                                     "basis", *FREE_TEXT)} for b in named],
                 [f"{ref(b['id'])}: their name in the record" for b in named])]
    if subject.key:
        made = conn.execute("SELECT id, kind, status, created_at FROM bans WHERE created_by=? OR decided_by=? OR"
                            " ended_by=? ORDER BY id", (subject.key,) * 3).fetchall()
        out.append(Found("Bans they made or decided", RETENTION, [dict(r) for r in made]))
        views = conn.execute("SELECT at, ban_id, action FROM ban_audit WHERE actor=? ORDER BY id",
                             (subject.key,)).fetchall()
        out.append(Found("Their views and changes of bans (audit)", "as long as the ban", [dict(r) for r in views]))
        sent = conn.execute("SELECT id, created_at, branches, description, todo FROM headsups WHERE created_by=?",
                            (subject.key,)).fetchall()
        out.append(Found("Heads-ups they sent", "30 days after expiry", [dict(r) for r in sent]))
    return out


def _anonymise(conn: Conn, bid: int, now: float) -> None:
    conn.execute("UPDATE bans SET subject='(anonymised)', " + ", ".join(f"{c}=''" for c in FREE_TEXT[1:])
                 + ", anonymised_at=? WHERE id=?", (now, bid))
    conn.execute("UPDATE ban_audit SET detail='' WHERE ban_id=?", (bid,))


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    done = Done()
    now = time.time()  # when it was anonymised: the owner interface gives erase no clock
    for b in _naming(conn, subject):
        if b["status"] in IN_FORCE:
            until = "until further notice" if b["end_at"] is None else "until its end date"
            done.kept.append(f"{ref(b['id'])}: kept while the ban is in force ({until}, review due): erasure is "
                             "refused while it applies (UK GDPR Art. 17(3)(b) and (e); docs/bans.md)")
            continue
        done.changed.append(f"{ref(b['id'])}: anonymised (who, description, reasons, account, agreement)")
        if not dry_run:
            _anonymise(conn, b["id"], now)
    if subject.key:
        n = conn.execute("SELECT COUNT(*) FROM bans WHERE created_by=? OR decided_by=?", (subject.key,) * 2).fetchone()[0]
        if n:
            done.kept.append(f"bans: {n} decision(s) they made or confirmed keep their name (the service's record of"
                             " who decided, needed for reviews and appeals)")
        if not dry_run:
            conn.execute("DELETE FROM ban_drafts WHERE person=?", (subject.key,))
    return done


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    done = Done()
    for b in conn.execute("SELECT id, category, ended_at FROM bans WHERE anonymised_at IS NULL AND status NOT IN"
                          " ('pending','active') AND ended_at IS NOT NULL ORDER BY id").fetchall():
        years = RETENTION_YEARS.get(b["category"], 2)
        if b["ended_at"] + years * YEAR <= now:
            done.changed.append(f"{ref(b['id'])}: anonymised ({b['category'] or 'on the spot'}, {years} years after"
                                " it ended)")
            if not dry_run:
                _anonymise(conn, b["id"], now)
    old = conn.execute("SELECT id FROM headsups WHERE status='withdrawn' AND description!='' AND expires_at<=?",
                       (now - HEADSUP_KEEP,)).fetchall()
    if old:
        done.changed.append(f"headsups: cleared the words of {len(old)} expired heads-up(s)")
        if not dry_run:
            conn.execute("UPDATE headsups SET description='', todo='' WHERE status='withdrawn' AND expires_at<=?",
                         (now - HEADSUP_KEEP,))
    if not dry_run:
        conn.execute("DELETE FROM ban_drafts WHERE updated_at<=?", (now - DRAFT_KEEP,))
    return done


OWNER = Owner("bans", HOLDINGS, about, forget, purge)
