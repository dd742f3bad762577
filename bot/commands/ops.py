"""Operations for whoever runs the service: backup, restore, doctor, printable guides.

    saferbot backup /var/backups/saferbot/2026-11-25.db   # consistent while the bot runs
    saferbot restore /var/backups/saferbot/2026-11-25.db  # only with the bot stopped
    saferbot doctor                                       # what is wrong, and how to fix it
    saferbot guide staff --out staff-guide.html           # a page to pin up in the staff room
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

from ..files import open_private
from ..instance import InstanceLock
from ..settings import Settings
from ..storecheck import check_database, side_files, tidy


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="copy the database to a file, safely while the bot runs")
    p.add_argument("file", type=Path, help="where to write the copy (refused if it exists, unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="replace the database with a backup (stop the bot first)")
    p.add_argument("file", type=Path, help="a file written by `saferbot backup`")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("doctor", help="check tokens, store, disk, clock and config; say what to fix")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("guide", help="a guide as a printable page (HTML, or PDF if a browser is installed)")
    p.add_argument("reader", choices=["staff", "duty-manager", "admin"])
    p.add_argument("--out", type=Path, help="file to write, .html or .pdf (default: HTML on standard output)")
    p.set_defaults(func=cmd_guide)


def fail(message: str) -> int:
    print(f"saferbot: {message}", file=sys.stderr)
    return 2


def copy_database(src: Path, dst: Path) -> None:
    """SQLite's online backup API: a consistent copy even while another process writes.

    The copy is one self-contained file (rollback journal, not WAL), so nothing is left beside it.
    """
    before = side_files(src)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
        tidy(src, before)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    if settings.on_postgres:
        return fail("this is a PostgreSQL store: back it up with pg_dump (or your provider's backups); "
                    "see docs/admin.md, Backups")
    db = Path(settings.db)
    if not db.exists():
        return fail(f"there is no database at {db} (check SAFERBOT_DB)")
    out: Path = args.file
    if out.exists() and not args.force:
        return fail(f"{out} already exists; choose another name or add --force")
    tmp = out.with_name(out.name + ".part")
    tmp.unlink(missing_ok=True)
    with open_private(tmp):  # create it 0600 before SQLite writes a byte of evidence into it
        pass
    copy_database(db, tmp)
    problem = check_database(tmp)
    if problem:
        tmp.unlink()
        return fail(f"the copy failed its check ({problem}); the database itself may be damaged: "
                    "run `saferbot doctor`")
    os.replace(tmp, out)
    print(f"Backed up {db} to {out} ({out.stat().st_size // 1024} KB, integrity ok)")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    if settings.on_postgres:
        return fail("this is a PostgreSQL store: restore it with pg_restore (or your provider's point-in-time "
                    "restore) with every instance stopped; see docs/admin.md, Backups")
    db = Path(settings.db)
    src: Path = args.file
    lock = InstanceLock(db)  # held for the whole restore: no bot can start on a half-written file
    if not lock.try_acquire():
        return fail(f"saferbot is still running ({lock.holder()}); stop it first "
                    "(systemctl stop saferbot, or docker compose stop), then restore")
    try:
        return _restore(db, src)
    finally:
        lock.release()


def _restore(db: Path, src: Path) -> int:
    if not src.exists():
        return fail(f"there is no file {src}")
    problem = check_database(src)
    if problem:
        return fail(f"{src} is not a usable saferbot backup: {problem}. Nothing was changed.")
    if db.exists():
        saved = db.with_name(f"{db.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
        with open_private(saved):
            pass
        copy_database(db, saved)
        print(f"The database as it was is kept in {saved}")
    else:
        db.parent.mkdir(parents=True, exist_ok=True)
    before = side_files(src)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(db)
    try:
        source.backup(target)  # through SQLite, so a leftover -wal file can never be replayed over it
        target.execute("PRAGMA journal_mode=DELETE")  # saferbot switches it to WAL when it starts
    finally:
        target.close()
        source.close()
        tidy(src, before)
    os.chmod(db, 0o600)
    print(f"Restored {db} from {src}. Start saferbot again; overdue timers fire at once.")
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from ..doctor import run_checks

    return run_checks(settings)


def cmd_guide(args: argparse.Namespace, settings: Settings) -> int:
    from ..guide import render

    return render(args.reader, args.out)
