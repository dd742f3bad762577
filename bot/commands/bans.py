"""Command-line verbs for bans: record, list, show, export (with the disclosure logged).

    saferbot bans record --decided-by bob --subject "John Doe" --kind exclusion --scope central \\
        --review 2027-01-05 --category threatening --basis "Byelaw 6" --reasons ... --account-invited yes \\
        --account-said ... --adjustments ... --appeal ...
    saferbot bans list
    saferbot bans show BAN-2
    saferbot bans export --to "City Business Crime Partnership" --agreement ISA-2026-04 --basis "..." [--ban BAN-2]

Every read and export is audited as cli:<os user>. Nothing is shared automatically: an export is a
person's decision, with the partnership, the information-sharing agreement and the lawful basis named.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers import bans

from ..audit import cli_actor
from ..files import write_private
from ..settings import Settings
from ..unit import wake  # the running bot's scheduler finds the wake-up in the store
from .incidents import _run

FIELDS = ("subject", "description", "kind", "scope", "start", "end", "review", "category", "basis", "reasons",
          "account_invited", "account_said", "adjustments", "letter", "appeal", "incidents")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bans", help="record, list, show and export bans (audited; docs/bans.md)")
    verbs = p.add_subparsers(dest="bans_command", required=True)
    r = verbs.add_parser("record", help="record a warning or an exclusion (refused with what is missing)")
    r.add_argument("--decided-by", required=True, help="the roster key of the manager who decided it")
    for name in FIELDS:
        r.add_argument("--" + name.replace("_", "-"), dest=name, default="")
    r.set_defaults(func=cmd_record)
    verbs.add_parser("list", help="bans and warnings in force").set_defaults(func=cmd_list)
    s = verbs.add_parser("show", help="one ban in full")
    s.add_argument("ref")
    s.set_defaults(func=cmd_show)
    e = verbs.add_parser("export", help="a minimal record for a partnership; the disclosure is logged")
    e.add_argument("--to", dest="recipient", required=True, help="the partnership it goes to")
    e.add_argument("--agreement", required=True, help="the information-sharing agreement's reference")
    e.add_argument("--basis", required=True, help="the lawful basis for this disclosure")
    e.add_argument("--ban", action="append", default=[], help="only these bans (default: every exclusion in force)")
    e.add_argument("--out", type=Path, help="file to write (default: standard output)")
    e.set_defaults(func=cmd_export)


def _directory(settings: Settings):
    from ..commands.config import load_config
    from ..compose import build_app
    from ..directory import Directory

    _book, service = load_config(settings)
    return Directory(service, build_app().duty), ZoneInfo(service.timezone)


def cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.ban_form import record

    directory, tz = _directory(settings)
    now = time.time()
    decider = directory.person(args.decided_by)
    values = {k: getattr(args, k) for k in FIELDS if getattr(args, k)}
    actor = cli_actor(args.decided_by)
    bid, missing = _run(settings, lambda c: record(c, now, datetime.fromtimestamp(now, tz), directory, decider, actor,
                                                   settings.ban_decider_role, values, functools.partial(wake, c)))
    if bid is None:
        print("saferbot: not recorded. Missing or wrong:\n" + "\n".join(f"  - {m}" for m in missing), file=sys.stderr)
        return 2
    print(f"BAN-{bid} recorded.")
    return 0


def _day(ts: float | None, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d") if ts else ""


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    _d, tz = _directory(settings)
    rows = _run(settings, bans.read_audited, cli_actor(), time.time(), "status IN ('pending','active')", (), "list")
    for r in rows:
        print(f"BAN-{r['id']}  {r['kind']:<9} {r['status']:<8} {r['branches']:<20} until {_day(r['end_at'], tz) or '-':<10}"
              f"  review {_day(r['review_at'], tz) or '-':<10}  {r['subject']}")
    print(f"{len(rows)} in force.", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.bans import parse_ref

    bid = parse_ref(args.ref)
    _d, tz = _directory(settings)
    rows = _run(settings, bans.read_audited, cli_actor(), time.time(), "id=?", (bid or 0,), "view")
    if not rows:
        print(f"saferbot: no ban {args.ref}", file=sys.stderr)
        return 1
    for k, v in rows[0].items():
        if v not in (None, ""):
            print(f"{k}: {_day(v, tz) if k.endswith('_at') and isinstance(v, float) else v}")
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.bans import parse_ref

    ids = [parse_ref(b) for b in args.ban]
    if None in ids:
        print("saferbot: give bans like BAN-2", file=sys.stderr)
        return 2
    _d, tz = _directory(settings)
    now = time.time()
    rows = _run(settings, bans.disclose, cli_actor(), now, args.recipient, args.agreement, args.basis, ids)
    for r in rows:
        r["start"], r["end"] = _day(r.pop("start_at"), tz), _day(r.pop("end_at"), tz)
    data = json.dumps({"to": args.recipient, "agreement": args.agreement, "basis": args.basis,
                       "exported": _day(now, tz), "bans": rows}, ensure_ascii=False, indent=2) + "\n"
    if args.out:
        write_private(args.out, data.encode("utf-8"))
        print(f"{len(rows)} ban(s) written to {args.out}; the disclosure is logged.", file=sys.stderr)
    else:
        sys.stdout.write(data)
    return 0
