"""`saferbot subject-access <person>` and `saferbot erase <person> [--dry-run]` (UK GDPR rights).

    saferbot subject-access alice --format json --out alice-sar.json
    saferbot erase alice~1 --dry-run

Both are audited (incident_audit, reader cli:<OS user>). A person still on the roster is
removed first (`saferbot roster remove alice`); their records then carry a retired key such
as alice~1, which these commands accept, as do plain keys of people who have left.

Both ask every data owner on the App (build_app().data_owners, bot/personal_data.py): the export has
a contents page and says which retention applies to each section; erase lists what it keeps, and why.
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

from ..personal_data import Subject
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


def _who(settings: Settings, text: str) -> tuple[list[Subject], bool]:
    """(one Subject per key their records carry, still on the roster?): names and phone numbers from the
    roster, the service file, those who left and the roster's history, so free text naming them is found."""
    from handlers.privacy import subject
    from handlers.registration import find_person

    from ..compose import build_app
    from ..directory import Directory, apply_overlay
    from .config import load_config

    _, service = load_config(settings)
    duty = build_app().duty  # the roster edits and retired keys, asked as the running bot asks them

    def go(conn):
        d = Directory(service, duty)
        apply_overlay(d, conn)
        p = find_person(d.people, text)
        key = p.key if p else text.strip().lower()
        sql = "SELECT key, name, was FROM people_retired WHERE key=?" + ("" if p else " OR was=?")
        former = conn.execute(sql, (key,) if p else (key, key)).fetchall()
        keys = [key] + [r[0] for r in former if r[0] != key]
        people = [q for q in (p, *(service.people.get(k) for k in {key, *(r[2] for r in former)})) if q]
        names = [q.name for q in people] + [r[1] for r in former if r[1]]
        phones = [q.phone for q in people if getattr(q, "phone", "")]
        found = [subject(conn, k, names, phones) for k in keys]
        names = sorted({n for s in found for n in s.names})
        phones = sorted({n for s in found for n in s.phones})
        return [Subject(k, tuple(names), tuple(phones), accounts=s.accounts) for k, s in zip(keys, found, strict=True)], \
            p is not None

    return _run(settings, go)


def _run(settings: Settings, fn, *args, then=None):
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


def _audit(conn, keys: list[str], action: str, incident_rows: list[dict]) -> None:
    """Written by the table's owner (handlers/incident.py): a person's records, then each incident."""
    from handlers.incident import audit

    from ..audit import cli_actor

    now, reader = time.time(), cli_actor()
    for key in keys:
        audit(conn, now, reader, {"id": None, "ref": f"person:{key}"}, action)
    for r in incident_rows:
        audit(conn, now, reader, r, action)


def _owners():
    from ..compose import build_app

    return build_app().data_owners


def _merge(found: list) -> list[dict]:
    """One section per title, rows found under several keys once; in the owners' order."""
    out: dict[str, dict] = {}
    for f in found:
        sec = out.setdefault(f.title, {"section": f.title, "retention": f.retention, "matched_by_text": [],
                                       "rows": []})
        seen = {json.dumps(r, sort_keys=True, default=str) for r in sec["rows"]}
        sec["rows"] += [r for r in f.rows if json.dumps(r, sort_keys=True, default=str) not in seen]
        sec["matched_by_text"] += [m for m in f.matched_by_text if m not in sec["matched_by_text"]]
    return [s for s in out.values() if s["rows"]]


def cmd_subject_access(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.privacy import subject_access

    subjects, _on_roster = _who(settings, args.person)
    keys = [s.key for s in subjects]
    owners = _owners()

    def go(conn):
        sections = _merge([f for s in subjects for f in subject_access(owners, conn, s)])
        incidents = next((s["rows"] for s in sections if s["section"].startswith("Incidents")), [])
        _audit(conn, keys, "subject-access", incidents)
        return sections

    sections = _run(settings, go)
    contents = [{"section": s["section"], "records": len(s["rows"]), "found_by_text": len(s["matched_by_text"]),
                 "retention": s["retention"]} for s in sections]
    doc = {"person": keys[0], "also_held_as": keys[1:], "names_searched": list(subjects[0].names),
           "phones_searched": list(subjects[0].phones),
           "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "how_found": "by their roster key where a table holds one; otherwise by their names and phone numbers as"
                        " whole words (case-insensitive): each such match is listed under matched_by_text to check",
           "contents": contents, "sections": sections}
    if args.format == "json":
        out = (json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
    else:
        from handlers.report import excel_safe

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["section", "row", "field", "value"])
        for c in contents:
            w.writerow(["contents", "", c["section"], f"{c['records']} record(s); kept: {c['retention']}"])
        for s in sections:
            for m in s["matched_by_text"]:
                w.writerow([s["section"], "", "matched by text", excel_safe(m)])
            for i, row in enumerate(s["rows"], 1):
                for field, value in row.items():
                    w.writerow([s["section"], i, field, excel_safe(json.dumps(value, ensure_ascii=False)
                                                                 if isinstance(value, dict | list) else str(value))])
        out = ("\ufeff" + buf.getvalue()).encode("utf-8")
    total = sum(c["records"] for c in contents)
    if args.out:
        args.out.write_bytes(out)
        print(f"{total} record(s) in {len(contents)} section(s) about {', '.join(keys)} written to {args.out}"
              " (this request is audited)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    return 0


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.privacy import erase

    from ..store import checkpoint

    subjects, on_roster = _who(settings, args.person)
    keys = [s.key for s in subjects]
    if on_roster and not args.dry_run:
        print(f"saferbot: {keys[0]} is still on the roster; remove them first (saferbot roster remove {keys[0]}),"
              " then erase what their records carry", file=sys.stderr)
        return 1
    owners = _owners()

    def go(conn):
        changed, kept, said = [], [], set()
        for s in subjects:
            done = erase(owners, conn, s, dry_run=args.dry_run)
            changed += [f"{s.key}: {line}" for line in done.changed if line not in said
                        or not any(t in line for t in ("their name, phone", "chat event(s) they sent"))]  # text found under each key is one change, said once
            said |= set(done.changed)
            kept += [line for line in done.kept if line not in kept]
        if not args.dry_run:
            _audit(conn, keys, "erase", [])
        return changed, kept

    changed, kept = _run(settings, go, then=None if args.dry_run else checkpoint)  # nothing left in the -wal file
    print(("Dry run - nothing changed. " if args.dry_run else "Erased. ") + f"For {', '.join(keys)}"
          f" (names matched as whole words: {', '.join(subjects[0].names) or 'none'}):")
    for line in changed or ["nothing held about this person"]:
        print("  " + line)
    if kept:
        print("Kept, and why:")
        for line in kept:
            print("  " + line)
    if on_roster:
        print(f"  ({keys[0]} is still on the roster: remove them before erasing)")
    return 0
