"""saferbot run | console | demo | check-config, plus the capabilities' own commands."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys

from . import commands, logs
from .book import resolve_service_path
from .commands.config import load_config
from .settings import Settings, SettingsError, load_settings, settings_failed
from .words import plural


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    book, service = load_config(settings)
    print(f"{settings.codewords_file}: {plural(len(book.codewords), 'codeword')}, "
          f"{plural(len(book.ladders), 'ladder')} - OK")
    print(f"{resolve_service_path(settings.service_file)}: {plural(len(service.branches), 'branch', 'branches')}, "
          f"{plural(len(service.people), 'person', 'people')}, {plural(len(service.rota), 'rota entry', 'rota entries')}"
          " - OK")
    from handlers.trigger import registered

    from .commands.trigger import NO_PORT

    if not settings.health_port and registered(settings):
        print(f"WARNING: panic buttons are registered. {NO_PORT}")
    return 0


def db_folder_problem(settings: Settings) -> str | None:
    """A SQLite database needs a folder that exists and that this user may write (its lock and WAL live there)."""
    if settings.on_postgres:
        return None
    from pathlib import Path

    folder = Path(settings.db).absolute().parent
    fix = f"Fix: create it for the bot's user (mkdir -p {folder}), or point SAFERBOT_DB at a file in a folder that is."
    if not folder.is_dir():
        return f"cannot open the database {settings.db_shown}: the folder {folder} does not exist. {fix}"
    probe = folder / f".saferbot-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return (f"cannot open the database {settings.db_shown}: this user may not write in {folder} "
                f"({e.strerror or e}). {fix.replace('create it', 'let it be written')}")
    return None


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from .compose import build_app
    from .serve import run

    book, service = load_config(settings)  # a bad file stops here with the full report
    problem = db_folder_problem(settings)
    if problem:
        print(f"saferbot: {problem}", file=sys.stderr)
        return 2
    return run(settings, args.command == "console", book, service, build_app())


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import run_demo

    return asyncio.run(run_demo(settings))


@functools.cache  # the same verbs all process long: built once (tests call main() thousands of times)
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saferbot", description="Safety bot for library staff.")
    parser.add_argument("--env-file", metavar="FILE", help="read SAFERBOT_* settings from FILE (- for standard "
                        "input) first, the way systemd's EnvironmentFile= does (e.g. /etc/saferbot/saferbot.env)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start every transport whose tokens are set (the console if none)").set_defaults(
        func=cmd_run)
    sub.add_parser("console", help="run on the console even when tokens are set").set_defaults(func=cmd_run)
    sub.add_parser("demo", help="play a scripted codeword scenario with fast time").set_defaults(func=cmd_demo)
    sub.add_parser("check-config", help="validate codewords.yaml and the service file").set_defaults(
        func=cmd_check_config)
    for module in (commands.people, commands.incidents, commands.invite, commands.privacy, commands.ops,
                   commands.store, commands.status, commands.bans, commands.trigger,
                   commands.phone):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # the database, its WAL, exports and charts: readable by the service's own user only
    args = build_parser().parse_args(argv)
    if args.env_file:
        from .envfile import EnvFileError, load

        try:
            load(args.env_file)
        except EnvFileError as e:
            print(f"saferbot: {e}", file=sys.stderr)
            return 2
    try:
        settings = load_settings()
    except SettingsError as e:
        settings_failed(e.problems)
    logs.setup(settings)  # redacts tokens, invite codes and (unless SAFERBOT_LOG_MESSAGES=1) message text
    try:
        code = int(args.func(args, settings) or 0)
        sys.stdout.flush()
    except BrokenPipeError:
        # whoever read our output stopped early (saferbot status | head -1): not an error. Point stdout at
        # /dev/null so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
