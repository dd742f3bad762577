"""Platform transports. `build` starts every transport whose tokens are set."""

from __future__ import annotations

from ..settings import Settings
from .base import Transport


def build(settings: Settings, console: bool = False) -> list[Transport]:
    transports: list[Transport] = []
    if settings.telegram_token:
        from .telegram import TelegramTransport

        transports.append(TelegramTransport(settings))
    if settings.slack_bot_token:
        from .slack import SlackTransport

        transports.append(SlackTransport(settings))
    if console or not transports:
        from .console import ConsoleTransport

        transports.append(ConsoleTransport())
    return transports
