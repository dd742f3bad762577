"""Logging that never holds secrets: bot tokens, signing secrets, invite codes and (unless
SAFERBOT_LOG_MESSAGES=1) what people typed are redacted in every record, from every logger,
at every level.

Redaction happens where records are made (a log-record factory), so it covers library
loggers (python-telegram-bot, httpx, slack-bolt, aiohttp) and every handler, including
ones added later. The payload loggers of the chat libraries are also held at INFO unless
message logging is switched on, so their DEBUG dumps of updates are not even produced.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import IO, Any

PAYLOAD_LOGGERS = ("telegram", "httpx", "httpcore", "slack_bolt", "slack_sdk", "aiohttp", "hpack")
TOKEN_PATTERNS = [
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{25,}"), "[telegram-token]"),  # Telegram bot token (also in /bot<token>/ URLs)
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]{10,}"), "[slack-token]"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"), "[slack-app-token]"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|bot)?\s*)[^\s'\",}]+"), r"\1[secret]"),
    (re.compile(r"(?i)(x-telegram-bot-api-secret-token['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"), r"\1[secret]"),
    (re.compile(r"(start[= ]|start%20|start=)[A-Za-z0-9_-]{16,}"), r"\1[invite-code]"),  # invite links and /start
]
MESSAGE_PATTERNS = [  # what people typed, as it appears in JSON payloads and library reprs
    (re.compile(r"""(["']text["']\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""), r"\1'[message text]'"),
    (re.compile(r"""(\btext=)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""), r"\1'[message text]'"),
]

REPEAT_WINDOW = 10.0  # seconds
REPEAT_BURST = 5  # the same line this often within the window is logged; further ones are counted
_NUMBERS = re.compile(r"\d+")

_old_factory: Any = None
_handler: logging.Handler | None = None


class Redactor:
    """Replaces known secret values and secret-shaped strings; message text too unless allowed."""

    def __init__(self, secrets: list[str], messages: bool):
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)
        self.patterns = TOKEN_PATTERNS + ([] if messages else MESSAGE_PATTERNS)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "[secret]")
        for pattern, repl in self.patterns:
            text = pattern.sub(repl, text)
        return text


def _secrets(settings: object) -> list[str]:
    out = []
    for name in ("telegram_token", "telegram_webhook_secret", "slack_bot_token", "slack_app_token",
                 "slack_signing_secret"):
        value = getattr(settings, name, None)
        if value is not None:
            out.append(value.get_secret_value() if hasattr(value, "get_secret_value") else str(value))
    from .settings import passwords_in

    return out + passwords_in(str(getattr(settings, "db", "") or ""))


class Repeats(logging.Filter):
    """A line that repeats (same logger, level and text but for numbers) is logged REPEAT_BURST times per
    REPEAT_WINDOW seconds; the first one after that says how many were left out. A flood of asyncio
    accept errors must not fill the disk the store lives on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[tuple, list] = {}  # key -> [window start, logged, left out]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, _NUMBERS.sub("#", str(record.msg))[:160])
        now = time.monotonic()
        entry = self.seen.get(key)
        if entry is None or now - entry[0] >= REPEAT_WINDOW:
            left_out = entry[2] if entry else 0
            if len(self.seen) > 2000:
                self.seen.clear()
            self.seen[key] = [now, 1, 0]
            if left_out:
                record.msg = f"{record.getMessage()} [{left_out} more like this in {REPEAT_WINDOW:.0f} s not logged]"
                record.args = None
            return True
        if entry[1] < REPEAT_BURST:
            entry[1] += 1
            return True
        entry[2] += 1
        return False


def install(redact: Redactor) -> None:
    """Every record made from now on is redacted once, as it is created."""
    global _old_factory
    if _old_factory is None:
        _old_factory = logging.getLogRecordFactory()
    base = _old_factory

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw pieces, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)


def setup(settings: object, stream: IO[str] | None = None) -> None:
    """Configure logging for `saferbot`: level from SAFERBOT_LOG_LEVEL, redaction always on."""
    global _handler
    level = getattr(logging, str(getattr(settings, "log_level", "INFO")).upper(), logging.INFO)
    messages = bool(getattr(settings, "log_messages", False))
    install(Redactor(_secrets(settings), messages))
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(stream or sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _handler.addFilter(Repeats())
    root.addHandler(_handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))  # one line per request otherwise
    if not messages:
        for name in PAYLOAD_LOGGERS:
            if name != "httpx":
                logging.getLogger(name).setLevel(max(level, logging.INFO))


def reset() -> None:
    """Undo setup (tests)."""
    global _old_factory, _handler
    if _old_factory is not None:
        logging.setLogRecordFactory(_old_factory)
        _old_factory = None
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    for name in (*PAYLOAD_LOGGERS, "apscheduler"):
        logging.getLogger(name).setLevel(logging.NOTSET)
