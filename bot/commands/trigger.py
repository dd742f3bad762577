"""`saferbot trigger add|list|rotate|disable|enable|test|remove`: panic buttons (docs/triggers.md).

The secret (or a capability URL's token) is printed once, when it is made, and never again:
the store keeps a capability token only as a hash. A running bot sees every change at its
next request (it reads the device from the store each time), so a rotated secret stops
working at once.
"""

from __future__ import annotations

import argparse
import sys
import time

NO_PORT = ("Presses need the bot's HTTP server: set SAFERBOT_HEALTH_PORT (the port that answers /healthz) and "
           "restart the bot. Until then nothing can reach /trigger/<device>.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trigger", help="panic buttons: register, list, rotate, disable, test or remove a device")
    ts = p.add_subparsers(dest="trigger_command", required=True)
    a = ts.add_parser("add", help="register a device (its secret is shown once)",
                      description='e.g. saferbot trigger add "Central - front counter" --branch central '
                                  '--place "front counter" --codeword mr-brown --kind signed')
    a.add_argument("name")
    a.add_argument("--branch", required=True)
    a.add_argument("--place", required=True, help='where it is, shown on every card ("front counter")')
    a.add_argument("--codeword", required=True, help="the codeword whose alarm a press raises (its key)")
    a.add_argument("--kind", choices=("signed", "capability"), default="signed",
                   help="signed: desktop client, Home Assistant, scripts; capability: a fixed URL (Shelly, Flic)")
    a.add_argument("--by", default=None, help="whom you act for (recorded next to your OS login name)")
    ts.add_parser("list", help="every device, its state and when it was last heard from")
    for name, what in (("rotate", "a new secret or URL; the old one stops working at once"),
                       ("disable", "refuse its presses until enabled again"), ("enable", "accept its presses again"),
                       ("test", "its next press (within 10 minutes) is a test: logged, admins told, never escalated"),
                       ("remove", "delete the device (its presses stay with their alarms)")):
        ts.add_parser(name, help=what).add_argument("device", help="the device id (see trigger list)")
    p.set_defaults(func=cmd_trigger)


def watch_from_here(conn, now: float) -> None:
    """The look for silent devices (handlers/trigger.py, WATCH) as a plain wake-up row, once: a running
    bot's scheduler fires it by its safety net, so a device added here is watched without a restart."""
    from handlers import trigger

    from ..unit import wake

    pending = conn.execute("SELECT 1 FROM wakeups WHERE kind=? AND ref='' AND status='pending'",
                           (trigger.WATCH,)).fetchone()
    if pending is None and trigger.watched(conn):
        wake(conn, trigger.WATCH, "", now + trigger.WATCH_EVERY)


def show_secret(settings, device: str, kind: str, secret: str) -> None:
    port = settings.health_port
    base = f"http://<this server>:{port}" if port else "http://<this server>:<SAFERBOT_HEALTH_PORT>"
    if kind == "signed":
        print(f"  press:     POST {base}/trigger/{device}  (Standard Webhooks signature)")
        print(f"  heartbeat: POST {base}/trigger/{device}/heartbeat   state: GET {base}/trigger/{device}/state")
        print(f"  secret:    {secret}")
    else:
        print(f"  URL:       {base}/trigger/{device}/{secret}  (GET or POST)")
    print("Shown once: copy it into the device now (docs/triggers.md). Behind a reverse proxy, use its https address.")
    if not port:
        print(f"\nWARNING: {NO_PORT}")


def cmd_trigger(args: argparse.Namespace, settings) -> int:
    from bot.audit import cli_actor
    from bot.store import connect, transaction
    from handlers import trigger

    from .config import load_config

    book, service = load_config(settings)
    conn = connect(settings.db)
    try:
        c = args.trigger_command
        if c == "add":
            try:
                device, secret = transaction(conn, lambda cn: trigger.add_device(
                    cn, book, service, name=args.name, branch=args.branch, place=args.place, codeword=args.codeword,
                    kind=args.kind, by=cli_actor(args.by), now=time.time()))
                transaction(conn, watch_from_here, time.time())
            except trigger.Refused as e:
                print(f"saferbot: {e}", file=sys.stderr)
                return 2
            print(f"Registered {args.kind} device '{device}' at {service.branches[args.branch].name}, "
                  f"{args.place}: a press raises '{args.codeword}'.")
            show_secret(settings, device, args.kind, secret)
            return 0
        if c == "list":
            found = trigger.devices(conn)
            for d in found:
                seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(d.last_seen)) if d.last_seen else "never"
                watch = "unmonitored (cannot send heartbeats)" if d.kind == "capability" else f"last heard {seen}"
                silent = " SILENT" if d.silent_since else ""
                print(f"{d.id}: {d.name} ({d.kind}, {d.status}{silent}) {d.branch}, {d.place}; raises {d.codeword}; "
                      f"{watch}")
            if not found:
                print("No panic buttons registered (saferbot trigger add ...).")
            if found and not settings.health_port:
                print(f"\nWARNING: {NO_PORT}")
            return 0
        d = trigger.device(conn, args.device)
        if d is None:
            print(f"saferbot: no device '{args.device}' (see saferbot trigger list)", file=sys.stderr)
            return 2
        if c == "rotate":
            secret = transaction(conn, trigger.rotate, d.id)
            print(f"New {'secret' if d.kind == 'signed' else 'URL'} for '{d.id}'; the old one no longer works.")
            show_secret(settings, d.id, d.kind, secret)
        elif c in ("disable", "enable"):
            transaction(conn, trigger.set_status, d.id, "disabled" if c == "disable" else "active")
            transaction(conn, watch_from_here, time.time())
            print(f"'{d.id}' is {'disabled: its presses are refused' if c == 'disable' else 'enabled again'}.")
        elif c == "test":
            transaction(conn, trigger.arm_test, d.id, time.time())
            print(f"Press '{d.id}' now (within {trigger.TEST_WINDOW / 60:.0f} minutes): the press is logged and the "
                  "admins are told it arrived; nothing escalates. A press after that is real.")
            if not settings.health_port:
                print(f"\nWARNING: {NO_PORT}")
        elif c == "remove":
            transaction(conn, trigger.remove, d.id)
            print(f"Removed '{d.id}'; its presses stay with the alarms they raised.")
        return 0
    finally:
        conn.close()
