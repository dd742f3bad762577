"""saferbot run | console | demo | check-config, plus the capabilities' own commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from . import commands, logs
from .book import resolve_service_path
from .commands.config import load_config
from .settings import Settings
from .words import plural


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    book, service = load_config(settings)
    print(f"{settings.codewords_file}: {plural(len(book.codewords), 'codeword')}, "
          f"{plural(len(book.ladders), 'ladder')} - OK")
    print(f"{resolve_service_path(settings.service_file)}: {plural(len(service.branches), 'branch', 'branches')}, "
          f"{plural(len(service.people), 'person', 'people')}, {plural(len(service.rota), 'rota entry', 'rota entries')}"
          " - OK")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from .compose import build_app
    from .serve import run

    book, service = load_config(settings)  # a bad file stops here with the full report
    return run(settings, args.command == "console", book, service, build_app())


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import run_demo

    return asyncio.run(run_demo(settings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saferbot", description="Safety bot for library staff.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start every transport whose tokens are set (the console if none)").set_defaults(
        func=cmd_run)
    sub.add_parser("console", help="run on the console even when tokens are set").set_defaults(func=cmd_run)
    sub.add_parser("demo", help="play a scripted codeword scenario with fast time").set_defaults(func=cmd_demo)
    sub.add_parser("check-config", help="validate codewords.yaml and the service file").set_defaults(
        func=cmd_check_config)
    for module in (commands.people, commands.incidents, commands.invite, commands.privacy, commands.ops,
                   commands.store, commands.status):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # the database, its WAL, exports and charts: readable by the service's own user only
    args = build_parser().parse_args(argv)
    settings = Settings()
    logs.setup(settings)  # redacts tokens, invite codes and (unless SAFERBOT_LOG_MESSAGES=1) message text
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
