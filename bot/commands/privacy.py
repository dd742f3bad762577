"""`saferbot subject-access <person>` and `saferbot erase <person> [--dry-run]` (UK GDPR rights).

    saferbot subject-access alice --format json --out alice-sar.json
    saferbot erase alice~1 --dry-run

Both are audited (incident_audit, reader cli:<OS user>). A person still on the roster is
removed first (`saferbot roster remove alice`); their records then carry a retired key such
as alice~1, which these commands accept, as do plain keys of people who have left.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
import time
from pathlib import Path

from ..settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("subject-access", help="export everything held about a person (subject access request)")
    p.add_argument("person", help="roster key (alice), full name, or the key of someone who left (alice~1)")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.set_defaults(func=cmd_subject_access)
    e = sub.add_parser("erase", help="erase a person's data (anonymise records others rely on)")
    e.add_argument("person", help="the key of someone who has left (alice, or alice~1)")
    e.add_argument("--dry-run", action="store_true", help="only show what would be removed or anonymised")
    e.set_defaults(func=cmd_erase)


def _who(settings: Settings, text: str) -> tuple[list[str], list[str], bool]:
    """(keys to search, names to look for in free text, still on the roster?)"""
    from handlers.registration import find_person

    from .config import load_config

    _, service = load_config(settings)

    def go(conn):
        from bot.directory import Directory, apply_overlay

        d = Directory(service)
        apply_overlay(d, conn)
        p = find_person(d.people, text)
        key = p.key if p else text.strip().lower()
        sql = "SELECT key, name FROM people_retired WHERE key=?" + ("" if p else " OR was=?")
        former = conn.execute(sql, (key,) if p else (key, key)).fetchall()
        keys = [key] + [r[0] for r in former if r[0] != key]
        names = sorted({n for n in [p.name if p else None, *(r[1] for r in former)] if n})
        return keys, names, p is not None

    return _run(settings, go)


def _run(settings: Settings, fn, *args):
    from ..store import Store

    async def go():
        store = await Store.open(settings.db)
        try:
            return await store.run(fn, *args)
        finally:
            await store.close()

    return asyncio.run(go())


def _audit(conn, keys: list[str], action: str, incident_rows: list[dict]) -> None:
    """Written by the table's owner (handlers/incident.py): a person's records, then each incident."""
    from handlers.incident import audit

    from ..audit import cli_actor

    now, reader = time.time(), cli_actor()
    for key in keys:
        audit(conn, now, reader, {"id": None, "ref": f"person:{key}"}, action)
    for r in incident_rows:
        audit(conn, now, reader, r, action)


def cmd_subject_access(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.privacy import subject_access

    keys, names, _on_roster = _who(settings, args.person)

    def go(conn):
        merged: dict[str, list[dict]] = {}
        for key in keys:
            for section, rows in subject_access(conn, key, names).items():
                seen = {json.dumps(r, sort_keys=True, default=str) for r in merged.get(section, [])}
                merged.setdefault(section, []).extend(
                    r for r in rows if json.dumps(r, sort_keys=True, default=str) not in seen)
        _audit(conn, keys, "subject-access", merged.get("incidents", []))
        return merged

    data = _run(settings, go)
    doc = {"person": keys[0], "also_held_as": keys[1:], "names_searched": names,
           "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sections": data}
    if args.format == "json":
        out = (json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
    else:
        from handlers.report import excel_safe

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["section", "row", "field", "value"])
        for section, rows in data.items():
            for i, row in enumerate(rows, 1):
                for field, value in row.items():
                    w.writerow([section, i, field, excel_safe(json.dumps(value, ensure_ascii=False)
                                                             if isinstance(value, dict | list) else str(value))])
        out = ("\ufeff" + buf.getvalue()).encode("utf-8")
    total = sum(len(v) for v in data.values())
    if args.out:
        args.out.write_bytes(out)
        print(f"{total} record(s) about {', '.join(keys)} written to {args.out} (this request is audited)",
              file=sys.stderr)
    else:
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    return 0


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.privacy import erase

    keys, names, on_roster = _who(settings, args.person)
    if on_roster and not args.dry_run:
        print(f"saferbot: {keys[0]} is still on the roster; remove them first (saferbot roster remove {keys[0]}),"
              " then erase what their records carry", file=sys.stderr)
        return 1

    def go(conn):
        lines = []
        for key in keys:
            lines += [f"{key}: {line}" for line in erase(conn, key, names, dry_run=args.dry_run)]
        if not args.dry_run:
            _audit(conn, keys, "erase", [])
        return lines

    lines = _run(settings, go)
    print(("Dry run - nothing changed. " if args.dry_run else "Erased. ") + f"For {', '.join(keys)}:")
    for line in lines:
        print("  " + line)
    if on_roster:
        print(f"  ({keys[0]} is still on the roster: remove them before erasing)")
    return 0
