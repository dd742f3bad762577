"""`saferbot invite <person>`: print a single-use Telegram registration link for a rostered person."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from ..settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("invite", help="a single-use Telegram registration link for a rostered person")
    p.add_argument("person", help="the person's key in the service file (e.g. alice) or their full name")
    p.add_argument("--valid-for", default=None, help="how long the link works, e.g. 2d or 12h "
                   "(default SAFERBOT_INVITE_VALID_FOR, 7d)")
    p.set_defaults(func=cmd_invite)


def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.registration import find_person, valid_for

    from ..book import load_service, resolve_service_path
    from ..clock import Clock
    from ..model import parse_duration

    try:
        service = load_service(resolve_service_path(settings.service_file))
    except Exception as e:  # a ConfigError lists every problem; check-config shows them in full
        print(f"saferbot: cannot read the service file: {e}", file=sys.stderr)
        return 2
    person = find_person(dict(service.people), args.person)
    if person is None:
        print(f"saferbot: nobody called '{args.person}' on the roster; "
              f"known: {', '.join(sorted(service.people))}", file=sys.stderr)
        return 2
    try:
        seconds = parse_duration(args.valid_for) if args.valid_for else valid_for(settings)
    except ValueError as e:
        print(f"saferbot: --valid-for: {e}", file=sys.stderr)
        return 2
    link, expires = asyncio.run(_invite(settings, person.key, seconds))
    print(f"Registration link for {person.name}:\n\n  {link}\n")
    print(f"Send it to them privately. It works once, until {Clock(service.timezone).stamp(expires)}.")
    if link.startswith("/start"):
        print("(The bot's username is not known yet: start the bot once, or set SAFERBOT_TELEGRAM_BOT_USERNAME,\n"
              " for a t.me link. Meanwhile they can open the bot in Telegram and send the line above.)")
    return 0


async def _invite(settings: Settings, person: str, seconds: int) -> tuple[str, float]:
    from handlers.registration import bot_username, create_invite, invite_link

    from ..audit import cli_actor
    from ..store import Store

    store = await Store.open(settings.db)
    try:
        def make(conn):
            code, expires = create_invite(conn, person, created_by=cli_actor(), now=time.time(), valid_for=seconds)
            return invite_link(bot_username(conn, settings.telegram_bot_username), code), expires

        return await store.run(make)
    finally:
        await store.close()
