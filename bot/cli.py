"""saferbot run | console | demo | check-config, plus the capabilities' own commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from . import commands, logs
from .book import ConfigError, load_all, resolve_service_path
from .settings import Settings


def load_config(settings: Settings):
    """Both files, or a report of every problem and exit code 2."""
    try:
        return load_all(settings.codewords_file, settings.service_file)
    except ConfigError as e:
        print(f"saferbot: {len(e.problems)} problem(s) in the configuration:\n", file=sys.stderr)
        for p in e.problems:
            print(str(p) + "\n", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    book, service = load_config(settings)
    print(f"{settings.codewords_file}: {len(book.codewords)} codewords, {len(book.ladders)} ladders - OK")
    print(f"{resolve_service_path(settings.service_file)}: {len(service.branches)} branches, "
          f"{len(service.people)} people, {len(service.rota)} rota entries - OK")
    return 0


async def _serve(settings: Settings, console: bool, book, service) -> None:
    import handlers  # noqa: F401  (the entry point composes the capabilities and their wiring)

    from . import systemd
    from .engine import Engine
    from .transports import build

    engine = Engine(settings, book, service, transports=build(settings, console=console))
    overdue = await engine.start()
    systemd.notify("READY=1")  # Type=notify: systemd counts the bot as started only now
    watchdog = systemd.start_watchdog()
    names = ", ".join(engine.transports)
    logging.getLogger("saferbot").info("saferbot running on %s (database %s); %d overdue wake-up(s) fired",
                                       names, settings.db, overdue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.create_task(stop.wait())]
    waiters += [asyncio.create_task(t.quit.wait()) for t in engine.transports.values() if hasattr(t, "quit")]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        systemd.notify("STOPPING=1")
        await systemd.stop_watchdog(watchdog)
        await engine.stop()


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    book, service = load_config(settings)  # a bad file stops here with the full report
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings, args.command == "console", book, service))
    return 0


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
    for module in (commands.people, commands.incidents, commands.invite, commands.privacy, commands.ops):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    logs.setup(settings)  # redacts tokens, invite codes and (unless SAFERBOT_LOG_MESSAGES=1) message text
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
