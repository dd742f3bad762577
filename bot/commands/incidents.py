"""Command-line subcommands for the incidents capability: export, report, purge.

    saferbot export incidents --from 2026-01-01 --to 2026-03-31 --format csv --out q1.csv
    saferbot report --month 2026-10 [--chart oct.png]
    saferbot purge [--dry-run] [--delete]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..files import files_dir, write_private
from ..settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export incidents for a period (CSV for Excel, or JSON)")
    p.add_argument("what", choices=["incidents"])
    p.add_argument("--from", dest="start", required=True, type=date.fromisoformat, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", required=True, type=date.fromisoformat, help="last day, YYYY-MM-DD")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="monthly incident figures (counts by branch, category, hour, weekday)")
    p.add_argument("--month", required=True, help="YYYY-MM")
    p.add_argument("--chart", type=Path, nargs="?", const=Path(""),
                   help="also write a PNG chart here (no path: into SAFERBOT_FILES_DIR)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("purge", help="anonymise (or delete) incidents older than the retention period")
    p.add_argument("--dry-run", action="store_true", help="only list what would go")
    p.add_argument("--delete", action="store_true", help="delete them entirely instead of anonymising")
    p.set_defaults(func=cmd_purge)


def _context(settings: Settings):
    from .config import load_config

    _book, service = load_config(settings)
    tz = ZoneInfo(service.timezone)
    names = {k: p.name for k, p in service.people.items()}

    def branch_name(key: str | None) -> str:
        b = service.branches.get(key or "")
        return b.name if b else (key or "no branch")

    return tz, names, branch_name


def _run(settings: Settings, fn, *args, then=None):
    """fn(conn, *args) in one transaction; then(conn), if given, outside it (e.g. a WAL checkpoint)."""
    from ..store import Store

    async def go():
        store = await Store.open(settings.db)
        try:
            result = await store.run(fn, *args)
            if then is not None:
                await store.read(then)
            return result
        finally:
            await store.close()

    return asyncio.run(go())


def to_csv(rows: list[dict[str, str]]) -> str:
    from handlers.report import COLUMNS, excel_safe

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: excel_safe(str(v)) for k, v in r.items()})
    return buf.getvalue()


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.report import day_bounds, export_rows

    if args.end < args.start:
        print("saferbot: --to is before --from", file=sys.stderr)
        return 2
    tz, names, branch_name = _context(settings)
    start, end = day_bounds(args.start, args.end, tz)
    from ..audit import cli_actor

    reader = cli_actor()
    rows = _run(settings, export_rows, start, end, tz, names, branch_name, reader, time.time())
    if args.format == "csv":
        data = ("\ufeff" + to_csv(rows)).encode("utf-8")
    else:
        data = (json.dumps({"from": args.start.isoformat(), "to": args.end.isoformat(), "timezone": str(tz),
                            "incidents": rows}, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if args.out:
        write_private(args.out, data)
        print(f"{len(rows)} incident(s) written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.report import monthly

    try:
        datetime.strptime(args.month, "%Y-%m")
    except ValueError:
        print("saferbot: give the month like 2026-10", file=sys.stderr)
        return 2
    tz, _names, branch_name = _context(settings)
    if args.chart == Path(""):
        args.chart = files_dir(settings) / f"incidents-{args.month}.png"
    text, png = _run(settings, monthly, args.month, tz, branch_name, None, args.chart, "all branches")
    print(text)
    if args.chart:
        print(f"chart: {png}" if png else "no chart (nothing to draw, or matplotlib is not installed)")
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from bot.compose import build_app
    from bot.store import checkpoint
    from handlers.report import messages_cutoff, purge, retention_cutoff

    tz, _names, branch_name = _context(settings)
    now = time.time()
    cutoff = retention_cutoff(now, tz, settings.retention_years)
    keep_messages = messages_cutoff(now, settings)
    owners = build_app().data_owners
    rows = _run(settings, lambda conn: purge(conn, now, cutoff, owners=owners, dry_run=args.dry_run,
                                             delete=args.delete, messages_cutoff=keep_messages),
                then=None if args.dry_run else checkpoint)  # purged text must not linger in the -wal file
    verb = "would be" if args.dry_run else "were"
    how = "deleted" if args.delete else "anonymised"
    print(f"Retention: {settings.retention_years} years; incidents logged before "
          f"{datetime.fromtimestamp(cutoff, tz):%Y-%m-%d %H:%M} ({tz}) {verb} {how}: {len(rows)}")
    for r in rows:
        print(f"  {r['ref']}  {datetime.fromtimestamp(r['created_at'], tz):%Y-%m-%d}  {branch_name(r['branch'])}"
              f"  {r['category'] or 'stub'}")
    print(f"Alerts, timelines, lone-working sessions and backup requests from before that date {verb} {how} "
          f"too; delivered message texts older than {settings.outbox_retention} {verb} cleared.")
    return 0
