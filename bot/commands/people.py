"""Command-line subcommands for the people capability: `saferbot roster list|add|set|remove|history`.

Edits are saved in the database as an overlay on the service file and audited (who,
when, before and after), exactly like `person add|set|remove` in chat. A running bot
applies command-line edits within SAFERBOT_ROSTER_REFRESH seconds (2 by default); edits made in
chat apply at once. Removing someone ends their chat accounts and invites at once.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roster", help="list or edit the roster (every change is saved and audited)")
    rs = p.add_subparsers(dest="roster_command", required=True)
    ls = rs.add_parser("list", help="everyone on the roster, or one branch")
    ls.add_argument("branch", nargs="?")
    for name, what in (("add", "add a person"), ("set", "change a person")):
        a = rs.add_parser(name, help=what, description='e.g. saferbot roster add ann name="Ann Lee" role=staff '
                                                          'branch=central phone="+44 7700 900010"')
        a.add_argument("key")
        a.add_argument("fields", nargs="+", help="name=... role=volunteer|staff|duty_manager|admin branch=... "
                                                  "phone=... prefer=telegram|slack")
    r = rs.add_parser("remove", help="take a person off the roster")
    r.add_argument("key")
    h = rs.add_parser("history", help="recent roster changes")
    h.add_argument("key", nargs="?")
    for parser in (ls, r, h, *[rs.choices[n] for n in ("add", "set")]):
        parser.add_argument("--by", default=None, help="whom you act for (recorded next to your OS login name)")
    p.set_defaults(func=cmd_roster)


def cmd_roster(args: argparse.Namespace, settings) -> int:
    from bot.audit import cli_actor
    from bot.compose import build_app
    from bot.directory import Directory, apply_overlay
    from bot.store import connect, transaction
    from handlers.roster import RosterError, change_roster, describe, history_lines, parse_fields, summary

    from .config import load_config

    _, service = load_config(settings)
    directory = Directory(service, build_app().duty)  # the roster edits come from the App's duty, as in the bot
    conn = connect(settings.db)  # SQLite: secure_delete on, so a leaver's deleted rows are overwritten
    try:
        apply_overlay(directory, conn)
        if args.roster_command == "list":
            if args.branch and args.branch not in service.branches:
                print(f"saferbot: there is no branch '{args.branch}'; the branches are: "
                      f"{', '.join(service.branches)}", file=sys.stderr)
                return 2
            people = [p for p in directory.people.values() if not args.branch or p.branch == args.branch]
            for p in sorted(people, key=lambda p: (p.branch or "", -p.role.rank, p.name)):
                print(describe(directory, p, phones=True))
            return 0
        if args.roster_command == "history":
            print("\n".join(history_lines(conn, directory, args.key, limit=100)))
            return 0
        by = cli_actor(args.by)
        try:
            fields = parse_fields(getattr(args, "fields", None) or [])
            before, after = transaction(conn, lambda c: change_roster(
                c, directory, action=args.roster_command, key=args.key, fields=fields, by=by, via="cli",
                now=directory.now()))
        except RosterError as e:
            print(f"saferbot: not changed: {e}")
            return 1
        print(f"Saved: {summary(before, after)}. A running bot picks this up within a few seconds.")
        return 0
    finally:
        conn.close()
