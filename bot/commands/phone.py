"""`saferbot phone test <person>`: text and ring a person's verified number now, to see a phone rung work.

It goes straight to the providers (GOV.UK Notify, Twilio) with this machine's settings, not through a
running bot's outbox, and changes no alert: it is a check of the number and the accounts, like
`doctor`. The call asks for 1 like an alarm call; pressing it only says thank you.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..settings import Settings

TEST_ROW = 0  # the outbox id a test text or call carries: none (handlers/phone_events.py says the test words)
SMS = "saferbot test: texts to this number work for alarms. No need to reply."


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("phone", help="the phone rung (texts and calls): test a person's number")
    verbs = p.add_subparsers(dest="phone_verb", required=True)
    t = verbs.add_parser("test", help="text and ring a person's verified number now (no alert)")
    t.add_argument("person", help="the person's key in the service file (e.g. bob) or their full name")
    t.add_argument("--only", choices=("sms", "call"), help="only text, or only call")
    t.set_defaults(func=cmd_test)


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.registration import find_person

    from ..book import load_service, resolve_service_path

    try:
        service = load_service(resolve_service_path(settings.service_file))
    except Exception as e:
        print(f"saferbot: cannot read the service file: {e}", file=sys.stderr)
        return 2
    person = find_person(dict(service.people), args.person)
    if person is None:
        print(f"saferbot: nobody called '{args.person}' on the roster", file=sys.stderr)
        return 2
    lines, code = asyncio.run(test(settings, person, args.only))
    for line in lines:
        print(line, file=sys.stdout if code == 0 else sys.stderr)
    return code


async def test(settings: Settings, person, only: str | None = None) -> tuple[list[str], int]:
    """(what happened, exit code): one text and/or one call to the person's verified number."""
    from handlers.phone import e164, tail

    from ..messages import Delivery
    from ..store import Store
    from ..transports import phones

    store = await Store.open(settings.db)
    try:
        rows = await store.read(lambda c: c.execute("SELECT channel, number, state FROM contact_methods WHERE"
                                                    " person=?", (person.key,)).fetchall())
    finally:
        await store.close()
    number = e164(person.phone)
    verified = {r[0] for r in rows if r[2] == "verified" and r[1] == number}
    transports = {t.platform: t for t in phones(settings)}
    out, code = [], 0
    for channel in [c for c in ("sms", "voice") if only in (None, {"sms": "sms", "voice": "call"}[c])]:
        said = "texts" if channel == "sms" else "calls"
        if channel not in transports:
            out.append(f"{said}: no provider is configured (docs/phone.md)")
            code = 2
        elif not number or channel not in verified:
            out.append(f"{said}: {person.name}'s number is not verified; they send phone verify in chat")
            code = 2
        else:
            d = Delivery(id=TEST_ROW, kind="send", platform=channel, chat_id=number, user_id=person.key, text=SMS,
                         buttons=(), priority=0)
            try:
                ref = await transports[channel].deliver(d)
                out.append(f"{said}: {'text sent' if channel == 'sms' else 'call placed'} to {tail(number)} ({ref})")
            except Exception as e:
                out.append(f"{said}: the provider refused it: {e}")
                code = 1
    return out, code
