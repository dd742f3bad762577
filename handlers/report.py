"""Evidence and data protection: the monthly report (chat and command line), its chart, incident
export rows, and retention (the daily purge).

The same functions serve `report month` in chat and `saferbot report --month 2026-10`,
so the numbers match. Drills are counted apart so exercises never inflate the evidence.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import personal_data
from bot.files import files_dir, open_private
from bot.forms import INCIDENT
from bot.messages import Inbound, Outbound
from bot.model import Person, Priority, Role, parse_duration
from bot.personal_data import Owner, Policy
from bot.registry import command, wakeup
from bot.unit import Tx

from . import incident, incident_data, privacy, retention

FORM = INCIDENT
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --- periods ------------------------------------------------------------------------------------
def month_bounds(month: str, tz: ZoneInfo) -> tuple[float, float]:
    """UTC epoch bounds [start, end) of a 'YYYY-MM' month in local time; ValueError if malformed."""
    first = datetime.strptime(month.strip(), "%Y-%m").replace(tzinfo=tz)
    nxt = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return first.timestamp(), nxt.timestamp()


def day_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[float, float]:
    """Inclusive local dates -> [start, end) epoch seconds."""
    a = datetime(start.year, start.month, start.day, tzinfo=tz)
    b = datetime.fromordinal(end.toordinal() + 1).replace(tzinfo=tz)
    return a.timestamp(), b.timestamp()


def when(r: sqlite3.Row) -> float:
    """When it happened if the form says so, else when it was logged."""
    return r["occurred_at"] or r["created_at"]


def in_period(conn: sqlite3.Connection, start: float, end: float, branches: set[str | None] | None = None
              ) -> list[sqlite3.Row]:
    rows = conn.execute("SELECT * FROM incidents WHERE COALESCE(occurred_at, created_at) >= ? AND"
                        " COALESCE(occurred_at, created_at) < ? ORDER BY COALESCE(occurred_at, created_at)",
                        (start, end)).fetchall()
    return [r for r in rows if branches is None or r["branch"] in branches]


# --- the monthly report ----------------------------------------------------------------------------
def collect(rows: list[sqlite3.Row], tz: ZoneInfo, branch_name) -> dict:
    real = [r for r in rows if not r["drill"]]
    hours = [(r["completed_at"] - r["created_at"]) / 3600 for r in real if r["completed_at"]]
    return {
        "total": len(real),
        "drills": len(rows) - len(real),
        "branch": Counter(branch_name(r["branch"]) for r in real),
        "category": Counter(r["category"] or "(form not complete)" for r in real),
        "hour": Counter(datetime.fromtimestamp(when(r), tz).hour for r in real),
        "weekday": Counter(WEEKDAYS[datetime.fromtimestamp(when(r), tz).weekday()] for r in real),
        "completed": len(hours),
        "incomplete": sum(1 for r in real if r["status"] == "stub"),
        "median_hours": statistics.median(hours) if hours else None,
        "max_hours": max(hours) if hours else None,
        "serious": sum(1 for r in real if r["serious"]),
        "riddor": sum(1 for r in real if r["riddor"]),
        "police": sum(1 for r in real if r["police_ref"] or incident.answers(r).get("police_informed") == "yes"),
        "reviewed": sum(1 for r in real if r["status"] == "reviewed"),
    }


def _hours(h: float) -> str:
    return f"{h * 60:.0f} min" if h < 1 else f"{h:.1f} h"


def format_report(stats: dict, title: str) -> str:
    lines = [title, f"Incidents: {stats['total']}" + (f" (plus {stats['drills']} drill(s), not counted)"
                                                       if stats["drills"] else "")]
    if not stats["total"]:
        lines.append("Nothing recorded in this period.")
        return "\n".join(lines)
    lines.append(f"Serious: {stats['serious']}; police involved: {stats['police']}; RIDDOR: {stats['riddor']}; "
                 f"reviewed: {stats['reviewed']}")
    for key, head in (("branch", "By branch"), ("category", "By category")):
        lines.append(head + ":")
        lines += [f"  {name}: {n}" for name, n in stats[key].most_common()]
    lines.append("By weekday: " + ", ".join(f"{d} {stats['weekday'][d]}" for d in WEEKDAYS if stats["weekday"][d]))
    busiest = sorted(stats["hour"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    lines.append("By hour of day: " + ", ".join(f"{h:02d}:00-{h:02d}:59 {n}" for h, n in sorted(stats["hour"].items())))
    if busiest:
        lines.append("Busiest hours: " + ", ".join(f"{h:02d}:00" for h, _ in busiest))
    if stats["median_hours"] is not None:
        lines.append(f"Forms completed: {stats['completed']}, typically {_hours(stats['median_hours'])} after "
                     f"logging (longest {_hours(stats['max_hours'])}); still incomplete: {stats['incomplete']}")
    else:
        lines.append(f"No forms completed yet; still incomplete: {stats['incomplete']}")
    return "\n".join(lines)


def chart(stats: dict, title: str, path: Path) -> Path | None:
    """A PNG with four small bar charts; None if there is nothing to draw or matplotlib is missing."""
    if not stats["total"]:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [
        ("By branch", list(stats["branch"].keys()), list(stats["branch"].values())),
        ("By category", list(stats["category"].keys()), list(stats["category"].values())),
        ("By hour of day", [f"{h:02d}" for h in range(24)], [stats["hour"].get(h, 0) for h in range(24)]),
        ("By weekday", list(WEEKDAYS), [stats["weekday"].get(d, 0) for d in WEEKDAYS]),
    ]
    for i, (ax, (name, labels, values)) in enumerate(zip(axes.flat, panels, strict=True)):
        ax.set_title(name)
        if i < 2:  # names read better across
            ax.barh(range(len(values)), values, color="#3b6ea8", height=0.6)
            ax.set_yticks(range(len(labels)), labels, fontsize=8)
            ax.invert_yaxis()
            ax.set_ylim(max(len(values), 3) - 0.5, -0.5)
            ax.xaxis.get_major_locator().set_params(integer=True)
        else:
            ax.bar(range(len(values)), values, color="#3b6ea8")
            step = 3 if len(labels) > 12 else 1
            ax.set_xticks(range(0, len(labels), step), labels[::step], fontsize=8)
            ax.yaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    fig.tight_layout()
    with open_private(path) as f:  # evidence: readable by the bot's user only
        fig.savefig(f, format="png", dpi=90)
    plt.close(fig)
    return path


def monthly(conn: sqlite3.Connection, month: str, tz: ZoneInfo, branch_name, branches: set[str | None] | None,
            chart_path: Path | None, scope: str) -> tuple[str, Path | None]:
    start, end = month_bounds(month, tz)
    stats = collect(in_period(conn, start, end, branches), tz, branch_name)
    title = f"Incident report {datetime.strptime(month, '%Y-%m').strftime('%B %Y')} - {scope}"
    png = chart(stats, title, chart_path) if chart_path else None
    return format_report(stats, title), png


def _which_month(tx: Tx, word: str) -> str | None:
    local = tx.local()
    if word in ("", "this"):
        return local.strftime("%Y-%m")
    if word in ("last", "previous"):
        return date.fromordinal(local.replace(day=1).toordinal() - 1).strftime("%Y-%m")
    try:
        datetime.strptime(word, "%Y-%m")
        return word
    except ValueError:
        return None


@command("report", permission="monthly_report", help="monthly incident figures with a chart",
         usage="report month [YYYY-MM|last]")
def report_cmd(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    words = args.lower().split()
    if not words or words[0] != "month" or len(words) > 2:
        tx.reply(msg, Outbound("Try: report month (this month), report month last, or report month 2026-10"),
                 person=person)
        return
    month = _which_month(tx, words[1] if len(words) > 1 else "")
    if month is None:
        tx.reply(msg, Outbound("Give the month like 2026-10, or 'last'."), person=person)
        return
    if person.role == Role.admin:
        branches, scope = None, "all branches"
    else:
        mine = sorted(incident.manager_branches(tx, person))
        branches, scope = set(mine), ", ".join(tx.directory.branch_name(b) for b in mine) or "no branch"
    out_dir = files_dir(tx.ctx.settings)
    png_path = out_dir / f"incidents-{month}-{person.key}-{int(tx.now)}.png"
    text, png = monthly(tx.conn, month, tx.ctx.clock.tz, tx.directory.branch_name, branches, png_path, scope)
    tx.reply(msg, Outbound(text, attachment=str(png) if png else None, priority=Priority.report), person=person)


# --- export ---------------------------------------------------------------------------------------------
COLUMNS = ("ref", "status", "drill", "branch", "reporter", "logged_at", "logged_text", "alert_id",
           *(f.name for f in FORM.fields), "completed_at", "completed_via", "serious", "police_ref",
           "riddor", "riddor_due", "reviewed_by", "reviewed_at", "notes", "anonymised_at")


def export_rows(conn: sqlite3.Connection, start: float, end: float, tz: ZoneInfo, names: dict[str, str],
                branch_name, reader: str, now: float) -> list[dict[str, str]]:
    """One dict per incident in the period (local times), each read written to the audit log."""

    def local(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M") if ts else ""

    def name(key: str | None) -> str:
        if not key:
            return ""
        former = privacy.former_name(conn, key)
        return names.get(key) or (f"{former} (has left)" if former else key)

    out = []
    for r in in_period(conn, start, end):
        given = json.loads(r["answers"] or "{}")
        notes = conn.execute("SELECT * FROM incident_notes WHERE incident_id=? ORDER BY id", (r["id"],)).fetchall()
        row = {
            "ref": r["ref"], "status": r["status"], "drill": "yes" if r["drill"] else "no",
            "branch": branch_name(r["branch"]), "reporter": name(r["reporter"]),
            "logged_at": local(r["created_at"]), "logged_text": r["text"],
            "alert_id": str(r["alert_id"] or ""),
            **{f.name: given.get(f.name, "") for f in FORM.fields},
            "completed_at": local(r["completed_at"]), "completed_via": r["completed_via"] or "",
            "serious": "yes" if r["serious"] else "no", "police_ref": r["police_ref"] or "",
            "riddor": "yes" if r["riddor"] else "no", "riddor_due": local(r["riddor_due"])[:10],
            "reviewed_by": name(r["reviewed_by"]),
            "reviewed_at": local(r["reviewed_at"]),
            "notes": "\n".join(f"{local(n['at'])} {name(n['author'])}: {n['text']}" for n in notes),
            "anonymised_at": local(r["anonymised_at"]),
        }
        out.append(row)
        incident.audit(conn, now, reader, r, "export")
    return out


def excel_safe(value: str) -> str:
    """Stop a cell typed by a user (=, +, -, @) being run as a spreadsheet formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# --- retention ---------------------------------------------------------------------------------------------
def retention_cutoff(now: float, tz: ZoneInfo, years: int) -> float:
    """Local midnight starting the day `years` ago: "logged before <that date>" is then exactly true."""
    local = datetime.fromtimestamp(now, tz)
    try:
        then = local.replace(year=local.year - years)
    except ValueError:  # 29 February
        then = local.replace(year=local.year - years, day=28)
    return datetime(then.year, then.month, then.day, tzinfo=tz).timestamp()


def purge(conn: sqlite3.Connection, now: float, cutoff: float, *, owners: list[Owner], dry_run: bool = False,
          delete: bool = False, messages_cutoff: float | None = None) -> list[sqlite3.Row]:
    """Incidents logged before `cutoff`: anonymised (kept for counts) or deleted, and every other copy of
    personal data past its retention with them: each data owner purges its own tables (bot/personal_data.py).
    Returns the incidents affected."""
    rows = incident_data.due(conn, cutoff, delete)
    if not dry_run:
        rules = Policy(cutoff, cutoff if messages_cutoff is None else messages_cutoff, delete)
        personal_data.purge(owners, conn, now, False, rules)
    return rows


def messages_cutoff(now: float, settings: object) -> float:
    """Delivered message bodies are kept this long (SAFERBOT_OUTBOX_RETENTION, default 30 days)."""
    try:
        return now - parse_duration(getattr(settings, "outbox_retention", "30d") or "30d")
    except ValueError:
        return now - 30 * 86400


def next_purge_at(tx: Tx) -> float:
    """03:00 local tomorrow (or today if it is still before 03:00)."""
    local = tx.local()
    at = local.replace(hour=3, minute=0, second=0, microsecond=0)
    if at <= local:
        at = (at + timedelta(days=1)).replace(hour=3)
    return at.timestamp()


@wakeup(incident.PURGE)
def daily_purge(tx: Tx, ref: str) -> None:
    cutoff = retention_cutoff(tx.now, tx.ctx.clock.tz, tx.ctx.settings.retention_years)
    purge(tx.conn, tx.now, cutoff, owners=tx.app.data_owners, messages_cutoff=messages_cutoff(tx.now, tx.ctx.settings))
    retention.mark_checkpoint_due(tx.conn, tx.now)
    tx.wake(incident.PURGE, "daily", next_purge_at(tx))


def _ensure_purge(tx: Tx) -> None:
    if tx.pending_wakeup(incident.PURGE, "daily") is None:
        tx.wake(incident.PURGE, "daily", next_purge_at(tx))


async def _schedule_purge(engine) -> None:
    await engine.perform(_ensure_purge)


