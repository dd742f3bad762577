"""Recording a warning or an exclusion: ONE form definition (bot/forms.py), one set of checks.

The chat walks it one question per message on every transport (the state is in `ban_drafts`,
so a restart loses nothing); a Slack modal submits it whole; the CLI (`saferbot bans record`)
passes the same values to the same `record`. A decision without a review date, by a role below
SAFERBOT_BAN_DECIDER_ROLE, or with the account question unanswered is refused with what is missing.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from bot import words
from bot.directory import Directory
from bot.forms import Field, Form, check_field, normalise_answer, validate
from bot.messages import Button, Inbound, Outbound
from bot.model import Person, Role
from bot.registry import button, conversation, form
from bot.unit import Tx

from .bans import (
    INCIDENT_REF,
    KINDS,
    Wake,
    audit,
    branches_for,
    day_end,
    day_start,
    decider_problem,
    end_ban,
    load,
    may_decide,
    parse_day,
    pending_for,
    ref,
    schedule_reviews,
)

CATEGORIES = ("verbal abuse", "threatening", "violence", "weapon", "theft", "other byelaw")
DATE_HELP = "A date like 2027-05-31 or 31/05/2027."
BAN = Form(
    name="ban", title="Warning or exclusion", submit_label="Record decision",
    fields=(
        Field("subject", "Who (their name if known, else a description)", help="Never a library card number."),
        Field("description", "How staff will know them", "long_text", required=False,
              help="Shown to staff with 'bans here'. Appearance only; no reasons."),
        Field("kind", "Decision", "choice", choices=tuple(KINDS)),
        Field("scope", "Which branches", help="Branch keys separated by commas, an area, or 'all'."),
        Field("start", "Starts", required=False, help=DATE_HELP + " Skip for today."),
        Field("end", "Ends", required=False, help=DATE_HELP + " Skip for no end date (a review date is still needed)."),
        Field("review", "Review date", help=DATE_HELP + " Required: no ban goes without a review."),
        Field("category", "Category", "choice", choices=CATEGORIES),
        Field("basis", "Byelaw or policy relied on", help="For example: Library byelaw 6 (behaviour)."),
        Field("reasons", "Reasons", "long_text"),
        Field("account_invited", "Was the person invited to give their account?", "yes_no"),
        Field("account_said", "What they said (or why they were not asked)", "long_text"),
        Field("adjustments", "Reasonable adjustments considered", "long_text",
              help="For example autism, mental health, a carer. Write 'none identified' if none."),
        Field("letter", "Letter sent (date and how)", required=False, help="For example: 2026-11-26 by post."),
        Field("appeal", "Appeal route", help="Who they can appeal to, and how."),
        Field("incidents", "Incidents it rests on", required=False, allow_long_numbers=True,
              help="References such as INC-2026-0042, comma separated."),
    ),
)
FIELDS = {f.name: f for f in BAN.fields}
STEP = "ban.step"


def problems(values: dict[str, str], now: datetime, directory: Directory, decider: Person | None,
             min_role: str, theirs: set[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(clean values, what is missing or wrong); `now` is local time; `theirs`: the branches the decider
    may decide for (None: any)."""
    clean, errors = validate(BAN, values, now)
    out = [f"{FIELDS[k].label}: {v}" for k, v in errors.items()]
    if decider is None or not decider.may(Role(min_role)):
        out.insert(0, f"Decided by: only a {min_role.replace('_', ' ')} or above can decide a ban"
                      " (SAFERBOT_BAN_DECIDER_ROLE).")
    days = {}
    for name in ("start", "end", "review"):
        if clean.get(name):
            d = parse_day(clean[name])
            if d is None:
                out.append(f"{FIELDS[name].label}: {DATE_HELP}")
            days[name] = d
    start = days.get("start") or now.date()
    if days.get("review") and days["review"] <= now.date():
        out.append("Review date: it must be after today.")
    if days.get("end") and days["end"] < start:
        out.append("Ends: it is before the start.")
    scope = clean.get("scope", "").strip().lower()
    if scope and scope != "all":
        keys = [k for part in scope.replace(" ", ",").split(",") if part for k in directory.scope_branches(part)]
        bad = [p for p in scope.replace(" ", ",").split(",") if p and not directory.scope_branches(p)]
        if bad:
            out.append(f"Which branches: {', '.join(bad)} is not a branch or area (try 'all').")
        clean["scope"] = ",".join(dict.fromkeys(keys))
    if scope and theirs is not None and (scope == "all" or not set(clean["scope"].split(",")) <= theirs):
        names = ", ".join(sorted(directory.branch_name(b) for b in theirs)) or "no branch"
        out.append(f"Which branches: you can decide for {names}; other branches, or all, need an admin.")
    if clean.get("incidents"):
        found = [m.upper() for m in INCIDENT_REF.findall(clean["incidents"])]
        clean["incidents"] = ",".join(dict.fromkeys(found))
    return clean, out


def record(conn: sqlite3.Connection, now: float, local: datetime, directory: Directory, decider: Person | None,
           actor: str, min_role: str, values: dict[str, str], wake: Wake, from_ban: int | None = None,
           theirs: set[str] | None = None) -> tuple[int | None, list[str]]:
    """Store a decision and its review wake-ups; or (None, what is missing). The chat, modal and CLI use it."""
    clean, missing = problems(values, local, directory, decider, min_role, theirs)
    if missing:
        return None, missing
    start_d = parse_day(clean["start"]) if clean.get("start") else local.date()
    start = max(now, day_start(local, start_d)) if start_d == local.date() else day_start(local, start_d)
    end = day_end(local, parse_day(clean["end"])) if clean.get("end") else None  # type: ignore[arg-type]
    review = day_start(local, parse_day(clean["review"])) + 9 * 3600  # type: ignore[arg-type]  # 09:00 that day
    bid = conn.execute(
        "INSERT INTO bans(kind, status, subject, description, branches, start_at, end_at, review_at, category, basis,"
        " reasons, account_invited, account_said, adjustments, letter, appeal, incidents, from_ban, created_by,"
        " created_at, decided_by, decided_at) VALUES(?, 'active', ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
        (KINDS[clean["kind"]], clean["subject"][:200], clean.get("description", ""), clean["scope"] or "all", start,
         end, review, clean["category"], clean["basis"], clean["reasons"], clean["account_invited"],
         clean["account_said"], clean["adjustments"], clean.get("letter", ""), clean["appeal"],
         clean.get("incidents", ""), from_ban, actor, now, decider.key if decider else actor, now)).fetchone()[0]
    audit(conn, now, actor, bid, "record", f"{clean['kind']} ({clean['category']})")
    schedule_reviews(wake, bid, review, now)
    if end is not None:
        wake("ban.expire", bid, end)
    return bid, []


# --- the chat form -------------------------------------------------------------------------------------
def _draft(conn: sqlite3.Connection, person: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM ban_drafts WHERE person=?", (person,)).fetchone()


def start(tx: Tx, person: Person, msg: Inbound, from_ban: int | None = None) -> None:
    tx.conn.execute("DELETE FROM ban_drafts WHERE person=?", (person.key,))
    given = {}
    old = load(tx.conn, from_ban)
    if old is not None:  # changing an on-the-spot ban: start from what the staff member wrote
        given = {"subject": old["subject"], "description": old["description"], "scope": old["branches"]}
        if old["incidents"]:
            given["incidents"] = old["incidents"]
    tx.conn.execute("INSERT INTO ban_drafts(person, pos, answers, from_ban, updated_at) VALUES(?,?,?,?,?)",
                    (person.key, 0, json.dumps(given, ensure_ascii=False), from_ban, tx.now))
    intro = f"Recording a warning or exclusion{' in place of ' + ref(from_ban) if old else ''}: " \
            f"{len(BAN.fields)} questions. Type 'skip' for optional ones, 'back', or 'cancel'."
    # on Slack the message also gets a button that opens the whole form as a modal
    tx.send(person, Outbound(intro, form=BAN.name, form_ref=str(from_ban or "")), tag="ban")
    ask(tx, person)


def ask(tx: Tx, person: Person, error: str = "") -> None:
    d = _draft(tx.conn, person.key)
    assert d is not None
    given, pos = json.loads(d["answers"]), d["pos"]
    arg = f"{pos}:"
    if pos >= len(BAN.fields):
        lines = [error] if error else []
        lines += ["Please check:"] + [f"{f.label}: {given.get(f.name, '(skipped)')}" for f in BAN.fields]
        tx.send(person, Outbound("\n".join(lines), buttons=(
            Button(BAN.submit_label, STEP, arg + "submit"), Button("Back", STEP, arg + "back"),
            Button("Cancel", STEP, arg + "cancel"))), tag="ban")
        return
    f = BAN.fields[pos]
    lines = ([error] if error else []) + [f"Question {pos + 1} of {len(BAN.fields)}" +
                                          ("" if f.required else " (optional)"), f.label]
    if f.help:
        lines.append(f.help)
    buttons = []
    if f.kind == "choice":
        lines.append("Choose: " + ", ".join(f"{i}. {c}" for i, c in enumerate(f.choices, 1)))
        buttons += [Button(c, STEP, f"{arg}c{i}") for i, c in enumerate(f.choices)]
    elif f.kind == "yes_no":
        buttons += [Button("Yes", STEP, arg + "yes"), Button("No", STEP, arg + "no")]
    if f.name in given:
        lines.append(f"So far: {given[f.name]} (type a new answer, or 'skip' to keep it)")
    if not f.required or f.name in given:
        buttons.append(Button("Skip", STEP, arg + "skip"))
    buttons.append(Button("Cancel", STEP, arg + "cancel"))
    tx.send(person, Outbound("\n".join(lines), buttons=tuple(buttons)), tag="ban")


def _save(tx: Tx, person: Person, pos: int, given: dict[str, str]) -> None:
    tx.conn.execute("UPDATE ban_drafts SET pos=?, answers=?, updated_at=? WHERE person=?",
                    (pos, json.dumps(given, ensure_ascii=False), tx.now, person.key))


def step(tx: Tx, person: Person, d: sqlite3.Row, what: str, typed: str = "") -> None:
    given, pos, n = json.loads(d["answers"]), d["pos"], len(BAN.fields)
    if what == "cancel":
        tx.conn.execute("DELETE FROM ban_drafts WHERE person=?", (person.key,))
        tx.send(person, Outbound("Cancelled; nothing was recorded."), tag="ban")
    elif what == "back":
        _save(tx, person, max(0, pos - 1), given)
        ask(tx, person)
    elif what == "skip" and pos < n:
        if BAN.fields[pos].required and BAN.fields[pos].name not in given:
            ask(tx, person, f"Sorry: '{BAN.fields[pos].label}' is needed.")
            return
        _save(tx, person, pos + 1, given)
        ask(tx, person)
    elif what == "submit" and pos >= n:
        submit(tx, person, given, d["from_ban"])
    elif what in ("skip", "submit"):  # a word that does not fit where they are: ask again
        ask(tx, person)
    elif pos < n:
        f = BAN.fields[pos]
        raw = typed or what
        if what.startswith("c") and not typed and (i := words.number(what[1:])) is not None and i < len(f.choices):
            raw = f.choices[i]
        error = check_field(f, raw.strip(), tx.local())
        if error:
            ask(tx, person, "Sorry: " + error)
            return
        given[f.name] = normalise_answer(f, raw, tx.local())
        _save(tx, person, pos + 1, given)
        ask(tx, person)
    else:
        ask(tx, person)


def submit(tx: Tx, person: Person, values: dict[str, str], from_ban: int | None, msg: Inbound | None = None) -> None:
    bid, missing = record(tx.conn, tx.now, tx.local(), tx.directory, person, person.key,
                          tx.ctx.settings.ban_decider_role, values, tx.wake, from_ban, branches_for(tx, person))
    if bid is None:
        tx.send(person, Outbound("Not recorded. Missing or wrong:\n" + "\n".join(f"- {m}" for m in missing)),
                tag="ban")
        return
    tx.conn.execute("DELETE FROM ban_drafts WHERE person=?", (person.key,))
    old = load(tx.conn, from_ban)
    if old is not None and old["status"] == "pending":
        end_ban(tx, person.key, old, "replaced", f"replaced by {ref(bid)}")
    ban = load(tx.conn, bid)
    assert ban is not None
    tx.send(person, Outbound(f"{ref(bid)} recorded. Review due {tx.local(ban['review_at']).strftime('%a %d %b %Y')};"
                             " you and the admins will be reminded 14 days and 1 day before."), tag="ban")


@button(STEP, permission="decide_ban")
def step_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    d = _draft(tx.conn, person.key)
    pos, _, what = arg.partition(":")
    if d is None:
        tx.reply(msg, Outbound("That form is closed."), person=person)
    elif str(d["pos"]) != pos:
        ask(tx, person, "That button was for another question; this is where you are:")
    else:
        step(tx, person, d, what)


@button("ban.change", permission="decide_ban")
def change_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    """Change an on-the-spot ban: record a warning or exclusion in its place, starting from its words."""
    ban = pending_for(tx, person, msg, arg)
    if ban:
        start(tx, person, msg, from_ban=ban["id"])


@button("ban.form", permission="decide_ban")
def form_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    if not may_decide(tx, person):
        tx.reply(msg, Outbound(decider_problem(tx)), person=person)
        return
    start(tx, person, msg, from_ban=int(arg) if arg.isdigit() else None)


NAV = {"cancel": "cancel", "stop": "cancel", "back": "back", "skip": "skip", "submit": "submit"}


@conversation
def form_answer(tx: Tx, person: Person, msg: Inbound) -> bool:
    """ANSWER: a typed answer to the open ban question (safety words were read before it)."""
    text = msg.text.strip()
    if msg.is_group or not text:
        return False
    d = _draft(tx.conn, person.key)
    if d is None or d["updated_at"] < tx.now - 12 * 3600:
        return False
    nav = NAV.get(words.key(text))
    step(tx, person, d, nav or "answer", "" if nav else text)
    return True


@form("ban")
def submitted(tx: Tx, person: Person, msg: Inbound) -> None:
    """The whole form at once (a Slack modal): the same checks."""
    submit(tx, person, dict(msg.values), int(msg.arg) if msg.arg.isdigit() else None, msg)

