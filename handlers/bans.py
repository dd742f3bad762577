"""Bans: on the spot by any staff member, confirmed by a duty manager; warnings and exclusions with reviews.

The sector guidance asks for bans "with reviews, clear lines of responsibility, and enough
flexibility to empower any member of staff to use it in the moment". Ombudsman findings say
what a decision must carry (a review date, the person's account, adjustments considered):
`record` refuses a decision without them, naming what is missing. Every view and change is
written to `ban_audit`. Volunteers never see a ban (permissions). Reviews and lapses are
wake-ups, so they survive restarts. The form: ban_form.py; reading and review: ban_reviews.py; the Change button opens the form (ban_form.py).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from bot.forms import CARD_NUMBER_MESSAGE, looks_like_card_number
from bot.messages import Button, Inbound, Outbound
from bot.model import Person, Role, parse_duration
from bot.permissions import allowed
from bot.registry import button, wakeup
from bot.unit import Tx

DAY = 86400
KINDS = {"verbal warning": "verbal", "written warning": "written", "exclusion": "exclusion"}
KIND_NAMES = {"today": "on-the-spot exclusion (today)", "verbal": "verbal warning", "written": "written warning",
              "exclusion": "exclusion"}
IN_FORCE = ("pending", "active")  # pending: on the spot, not yet confirmed by a manager
REVIEW_STAGES = (("t14", 14 * DAY), ("t1", DAY), ("due", 0))
INCIDENT_REF = re.compile(r"\bINC-\d{4}-\d+\b", re.IGNORECASE)
NOT_FOUND = "No ban with that reference that you may see."
Wake = Callable[[str, str | int, float], int]


# --- references, reading, audit ------------------------------------------------------------------------
def ref(ban: sqlite3.Row | int) -> str:
    return f"BAN-{ban if isinstance(ban, int) else ban['id']}"


def parse_ref(text: str) -> int | None:
    m = re.fullmatch(r"(?:ban-?)?(\d{1,9})", text.strip().lower())
    return int(m.group(1)) if m else None


def load(conn: sqlite3.Connection, ban_id: int | str | None) -> sqlite3.Row | None:
    if ban_id is None or not str(ban_id).isdigit():
        return None
    return conn.execute("SELECT * FROM bans WHERE id=?", (int(ban_id),)).fetchone()


def branches_of(ban: sqlite3.Row) -> list[str]:
    return [b for b in ban["branches"].split(",") if b]


def covers(ban: sqlite3.Row, branch: str | None) -> bool:
    return ban["branches"] == "all" or (branch is not None and branch in branches_of(ban))


def branches_for(tx: Tx, person: Person) -> set[str] | None:
    """The branches whose bans a person sees and (if their role decides) decides; None: every branch.
    Admins, and managers with no branch, see all; a duty manager the branches they look after (their
    own and those they cover, as for incidents); staff their own branch."""
    if person.role == Role.admin or person.branch is None and person.may(Role.duty_manager):
        return None
    if person.may(Role.duty_manager):
        from .incident import manager_branches

        return manager_branches(tx, person)
    return {person.branch} if person.branch else set()


def can_read(tx: Tx, person: Person | None, ban: sqlite3.Row) -> bool:
    """Staff and above, at one of the ban's branches (admins: every ban). Volunteers never."""
    if not allowed(person, "read_bans"):
        return False
    assert person is not None
    mine = branches_for(tx, person)
    return mine is None or ban["branches"] == "all" or bool(mine & set(branches_of(ban)))


def may_decide(tx: Tx, person: Person) -> bool:
    return person.may(Role(tx.ctx.settings.ban_decider_role))


def audit(conn: sqlite3.Connection, now: float, actor: str, ban_id: int | None, action: str, detail: str = "") -> None:
    conn.execute("INSERT INTO ban_audit(at, actor, ban_id, action, detail) VALUES(?,?,?,?,?)",
                 (now, actor, ban_id, action, detail[:500]))


def in_force_sql(alias: str = "") -> str:
    a = f"{alias}." if alias else ""
    return (f"{a}status IN ('pending','active') AND {a}kind IN ('today','exclusion') AND {a}start_at<=? AND"
            f" ({a}end_at IS NULL OR {a}end_at>?)")


def where_name(tx: Tx, ban: sqlite3.Row) -> str:
    return "all branches" if ban["branches"] == "all" else ", ".join(
        tx.directory.branch_name(b) for b in branches_of(ban))


def day_text(tx: Tx, ts: float | None) -> str:
    return tx.local(ts).strftime("%a %d %b %Y") if ts else "no date"


def until_text(tx: Tx, ban: sqlite3.Row) -> str:
    if ban["end_at"] is None:
        return f"until further notice, review {day_text(tx, ban['review_at'])}"
    end = tx.local(ban["end_at"])
    return f"until {end.strftime('%H:%M')} today" if end.date() == tx.local().date() else \
        f"until {end.strftime('%a %d %b %Y')}"


def private(tx: Tx, person: Person, msg: Inbound, text: str) -> None:
    """A ban is never read out in a shared channel (a volunteer may be in it): the answer goes privately."""
    if msg.is_group:
        tx.send(person, Outbound(text), tag="ban")
        tx.reply(msg, Outbound("I've sent it to you privately.", ephemeral=True), person=person)
    else:
        tx.reply(msg, Outbound(text), person=person)


# --- who is told ---------------------------------------------------------------------------------------
def admins(tx: Tx) -> list[Person]:
    return [p for p in tx.directory.people.values() if p.role == Role.admin]


def managers_for(tx: Tx, branch: str | None) -> list[Person]:
    """The duty manager(s) of the branch now; the admins when nobody is on duty."""
    found = [p for k in tx.directory.duty_managers(tx.conn, branch, tx.local()) if (p := tx.person(k))]
    return found or admins(tx)


def tell(tx: Tx, people: list[Person], out: Outbound, *, skip: str | None = None) -> list[str]:
    told = []
    for p in {p.key: p for p in people}.values():
        if p.key != skip and tx.send(p, out, tag="ban"):
            told.append(p.name)
    return told


# --- on the spot -------------------------------------------------------------------------------------
def ban_today(tx: Tx, person: Person, msg: Inbound, text: str) -> None:
    """Exclude someone from the sender's branch for the rest of the day; the duty manager must confirm."""
    text = text.strip()
    if not text:
        tx.reply(msg, Outbound("Say who, e.g.: ban today man in a red coat, shouted at staff at the desk"
                               " (add the incident reference if there is one)."), person=person)
        return
    if not person.branch:
        tx.reply(msg, Outbound("You have no branch on the roster, so an on-the-spot ban has nowhere to apply."
                               " Ask your duty manager."), person=person)
        return
    if looks_like_card_number(text):
        tx.reply(msg, Outbound(CARD_NUMBER_MESSAGE), person=person)
        return
    text = text[:1000]
    incidents = ",".join(dict.fromkeys(m.upper() for m in INCIDENT_REF.findall(text)))
    end = day_end(tx.local(), tx.local().date())
    bid = tx.conn.execute(
        "INSERT INTO bans(kind, status, subject, description, branches, start_at, end_at, incidents, created_by,"
        " created_at) VALUES('today','pending',?,?,?,?,?,?,?,?) RETURNING id",
        (text[:200], text, person.branch, tx.now, end, incidents, person.key, tx.now)).fetchone()[0]
    audit(tx.conn, tx.now, person.key, bid, "ban today")
    tx.wake("ban.lapse", bid, tx.now + parse_duration(tx.ctx.settings.ban_confirm_within))
    ban = load(tx.conn, bid)
    assert ban is not None
    within = tx.ctx.settings.ban_confirm_within
    told = tell(tx, managers_for(tx, person.branch), Outbound(
        f"{ref(bid)}: {person.name} excluded someone from {tx.directory.branch_name(person.branch)} for the rest of"
        f" today.\nWho: {text}\nPlease confirm, change (record a warning or exclusion) or lift it within {within};"
        " otherwise it lapses and the admins are told.",
        buttons=(Button("Confirm", "ban.confirm", str(bid)), Button("Change", "ban.change", str(bid)),
                 Button("Lift", "ban.lift", str(bid)))), skip=person.key)
    private(tx, person, msg,
            f"{ref(bid)}: excluded from {tx.directory.branch_name(person.branch)} {until_text(tx, ban)}. "
            + (f"{', '.join(told)} (duty manager) has been told and will confirm it." if told else
               "No duty manager could be told; please tell one."))


def pending_for(tx: Tx, person: Person, msg: Inbound, arg: str) -> sqlite3.Row | None:
    ban = load(tx.conn, arg)
    if ban is None or not can_read(tx, person, ban):
        tx.reply(msg, Outbound(NOT_FOUND), person=person)
        return None
    if not may_decide(tx, person):
        tx.reply(msg, Outbound(decider_problem(tx)), person=person)
        return None
    if ban["status"] != "pending":
        tx.reply(msg, Outbound(f"{ref(ban)} is already {ban['status']}; nothing was changed."), person=person)
        return None
    return ban


def decider_problem(tx: Tx) -> str:
    role = tx.ctx.settings.ban_decider_role.replace("_", " ")
    return f"Only a {role} or above can decide a ban (SAFERBOT_BAN_DECIDER_ROLE)."


def confirm(tx: Tx, person: Person, msg: Inbound, ban: sqlite3.Row) -> None:
    over = ban["end_at"] is not None and ban["end_at"] <= tx.now
    tx.conn.execute("UPDATE bans SET status=?, decided_by=?, decided_at=?, ended_at=? WHERE id=?",
                    ("expired" if over else "active", person.key, tx.now, ban["end_at"] if over else None, ban["id"]))
    tx.cancel_wakeups("ban.lapse", ban["id"])
    audit(tx.conn, tx.now, person.key, ban["id"], "confirm")
    if not over:
        tx.wake("ban.expire", ban["id"], ban["end_at"])
    tx.reply(msg, Outbound(f"{ref(ban)} confirmed" + (" (the day it covered is over)." if over else ".")),
             person=person)
    maker = tx.person(ban["created_by"])
    if maker and maker.key != person.key:
        tx.send(maker, Outbound(f"{ref(ban)} was confirmed by {person.name}."), tag="ban")


def end_ban(tx: Tx, actor: str, ban: sqlite3.Row, status: str, detail: str = "", at: float | None = None,
            **fields: str) -> None:
    """Lift, end (with an ABA), replace, lapse or expire: it stops being in force; reviews stop. `at`: when
    it ended, if not now (an end date: retention counts from it, however late the wake-up ran)."""
    sets = "".join(f", {k}=?" for k in fields)
    tx.conn.execute(f"UPDATE bans SET status=?, ended_by=?, ended_at=?{sets} WHERE id=?",
                    (status, None if actor == "system" else actor, tx.now if at is None else at, *fields.values(),
                     ban["id"]))
    cancel_reviews(tx, ban["id"])
    tx.cancel_wakeups("ban.lapse", ban["id"])
    tx.cancel_wakeups("ban.expire", ban["id"])
    audit(tx.conn, tx.now, actor, ban["id"], status, detail)


@button("ban.confirm", permission="decide_ban")
def confirm_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    ban = pending_for(tx, person, msg, arg)
    if ban:
        confirm(tx, person, msg, ban)


@button("ban.lift", permission="decide_ban")
def lift_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    ban = pending_for(tx, person, msg, arg)
    if ban:
        end_ban(tx, person.key, ban, "lifted", "lifted on review of the on-the-spot ban")
        tx.reply(msg, Outbound(f"{ref(ban)} lifted."), person=person)
        maker = tx.person(ban["created_by"])
        if maker and maker.key != person.key:
            tx.send(maker, Outbound(f"{ref(ban)} was lifted by {person.name}."), tag="ban")


@wakeup("ban.lapse")
def lapse(tx: Tx, arg: str) -> None:
    """Nobody confirmed, changed or lifted an on-the-spot ban in time: it lapses; the admins are told."""
    ban = load(tx.conn, arg)
    if ban is None or ban["status"] != "pending":
        return
    end_ban(tx, "system", ban, "lapsed", "not confirmed in time")
    tell(tx, admins(tx), Outbound(
        f"{ref(ban)} lapsed: the on-the-spot ban at {where_name(tx, ban)} made on {day_text(tx, ban['created_at'])}"
        f" was not confirmed, changed or lifted within {tx.ctx.settings.ban_confirm_within}."))


@wakeup("ban.expire")
def expire(tx: Tx, arg: str) -> None:
    ban = load(tx.conn, arg)
    if ban is None or ban["status"] != "active" or ban["end_at"] is None or ban["end_at"] > tx.now:
        return
    end_ban(tx, "system", ban, "expired", "its end date passed", at=ban["end_at"])


# --- reviews -------------------------------------------------------------------------------------------
def schedule_reviews(wake: Wake, ban_id: int, review_at: float, now: float) -> None:
    for stage, before in REVIEW_STAGES:
        if review_at - before > now:
            wake("ban.review", f"{ban_id}:{stage}", review_at - before)


def cancel_reviews(tx: Tx, ban_id: int) -> None:
    for stage, _ in REVIEW_STAGES:
        tx.cancel_wakeups("ban.review", f"{ban_id}:{stage}")


REVIEW_HOW = ("At review: ban {r} lift <reasons> | ban {r} extend <new review date> <reasons> | "
              "ban {r} end aba <the agreement's conditions>")


@wakeup("ban.review")
def review_reminder(tx: Tx, arg: str) -> None:
    """T-14 and T-1 days: remind the decider and the admins. Due and not done: the admins, once a day."""
    bid, _, stage = arg.partition(":")
    ban = load(tx.conn, bid)
    if ban is None or ban["status"] != "active" or ban["review_at"] is None:
        return
    decider = tx.person(ban["decided_by"])
    people = ([decider] if decider else []) + admins(tx)
    head = f"{ref(ban)} ({KIND_NAMES[ban['kind']]}, {where_name(tx, ban)}): "
    if stage == "due":
        text = head + f"the review due on {day_text(tx, ban['review_at'])} is OVERDUE. Please review it today."
        tx.wake("ban.review", arg, tx.now + DAY)  # again tomorrow, until it is done
    else:
        days = 14 if stage == "t14" else 1
        text = head + f"review due on {day_text(tx, ban['review_at'])} ({days} day{'s' if days > 1 else ''} from now)."
    tell(tx, people, Outbound(text + "\n" + REVIEW_HOW.format(r=ref(ban))))
    audit(tx.conn, tx.now, "system", ban["id"], "review reminder", stage)


# --- dates ---------------------------------------------------------------------------------------------
def parse_day(raw: str) -> date | None:
    raw = raw.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            pass
    return None


def day_start(tx_local: datetime, d: date) -> float:
    return datetime.combine(d, time(0, 0), tzinfo=tx_local.tzinfo).timestamp()


def day_end(tx_local: datetime, d: date) -> float:
    return (datetime.combine(d, time(0, 0), tzinfo=tx_local.tzinfo) + timedelta(days=1)).timestamp() - 1


# --- the command line's reads and the export (bot/commands/bans.py): audited here, by the owner -------------
MINIMAL = ("subject", "description", "branches", "kind", "category")  # what a partnership is given, nothing more


def read_audited(conn: sqlite3.Connection, actor: str, now: float, where: str, args: tuple, action: str) -> list[dict]:
    """Bans matching `where`, each read written to the audit (who, when, what for)."""
    rows = [dict(r) for r in conn.execute(f"SELECT * FROM bans WHERE {where} ORDER BY id", args).fetchall()]
    for r in rows:
        audit(conn, now, actor, r["id"], action, "cli")
    return rows


def disclose(conn: sqlite3.Connection, actor: str, now: float, recipient: str, agreement: str, basis: str,
             ids: list[int]) -> list[dict]:
    """The minimal record of the chosen bans (default: exclusions in force), with the disclosure logged."""
    if ids:
        rows = read_audited(conn, actor, now, f"id IN ({','.join('?' * len(ids))}) AND anonymised_at IS NULL",
                            tuple(ids), "export")
    else:
        rows = read_audited(conn, actor, now, in_force_sql(), (now, now), "export")
    conn.execute("INSERT INTO ban_disclosures(at, actor, recipient, agreement, basis, bans) VALUES(?,?,?,?,?,?)",
                 (now, actor, recipient, agreement, basis, ",".join(ref(r["id"]) for r in rows)))
    return [{"ref": ref(r["id"]), **{k: r[k] for k in MINIMAL}, "start_at": r["start_at"], "end_at": r["end_at"]}
            for r in rows]
