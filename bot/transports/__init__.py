"""Platform transports. `build` starts every transport whose tokens are set."""

from __future__ import annotations

import logging
import os
import sys

from ..settings import Settings
from .base import Transport

log = logging.getLogger("saferbot")


def keyboard_elsewhere() -> bool:
    """Standard input is a terminal this process may not read: a background job (`saferbot run &`).

    Reading it would stop the process ("Stopped (tty input)") and with it every alarm.
    """
    try:
        fd = sys.stdin.fileno()
        return os.isatty(fd) and os.tcgetpgrp(fd) != os.getpgrp()
    except (AttributeError, OSError, ValueError):
        return False


def build(settings: Settings, console: bool = False) -> list[Transport]:
    transports: list[Transport] = []
    if settings.telegram_token:
        from .telegram import TelegramTransport

        transports.append(TelegramTransport(settings))
    if settings.slack_bot_token:
        from .slack import SlackTransport

        transports.append(SlackTransport(settings))
    transports += phones(settings)
    if console or not any(t.platform in ("telegram", "slack") for t in transports):
        from .console import ConsoleTransport

        read = (console or settings.console) and not keyboard_elsewhere()
        if not read and not console and not any(t.platform in ("telegram", "slack") for t in transports):
            log.warning("no SAFERBOT_TELEGRAM_TOKEN or SAFERBOT_SLACK_BOT_TOKEN is set, so nobody can reach this "
                        "bot; set one (docs/telegram.md, docs/slack.md). It runs on, showing on standard output "
                        "what it would send.")
        if not read:
            log.warning("console: not reading standard input (%s)", "a background job may not read the terminal"
                        if keyboard_elsewhere() else "SAFERBOT_CONSOLE=false")
        transports.append(ConsoleTransport(read_stdin=read))
    return transports


def phones(settings: Settings) -> list[Transport]:
    """The phone platforms whose provider is configured (docs/phone.md; the `phone` extra)."""
    out: list[Transport] = []
    if settings.notify_api_key and settings.notify_sms_template:
        from .phone import SmsTransport

        out.append(SmsTransport(settings.notify_api_key.get_secret_value(), settings.notify_sms_template,
                                settings.notify_api_url))
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from and settings.phone_public_url:
        from .phone import VoiceTransport

        out.append(VoiceTransport(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                                  settings.twilio_from, settings.twilio_api_url, settings.phone_public_url))
    return out
