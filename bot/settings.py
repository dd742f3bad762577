"""Settings from SAFERBOT_* environment variables or a .env file.

Every value is parsed and checked here, when settings load, so a typo stops `check-config`,
`doctor` and `run` at once with the variable, the value and what is accepted (exit 2), instead
of a "Sorry" to the first person who needs the setting. The rules go by field type and name,
so a setting added later is checked too: numbers are finite and positive, `*_port` is a TCP
port, `*_url` is an http(s) URL, `*_listen` / `*_host` is an address to listen on.
"""

from __future__ import annotations

import ipaddress
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .model import parse_duration

# the password in postgresql://user:password@host/db; greedy to the address's last @, so an unescaped @
# in the password does not leave its tail showing
PASSWORD = re.compile(r"(://[^\s:/@]+):(\S*)@")
QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)([^&\s]*)")  # postgresql://user@host/db?password=...
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DURATION = "a duration such as 90s, 45m, 2h, 1h30m, 7d or 1w, at most 366d"
LONGEST = 366 * 86400  # no setting waits longer than a year; a typo of ten digits is caught
BOUNDS = {"retention_years": (0, 100)}  # 0: purge anything before now. Any other number: above 0, at most a million
BOOL = "true or false (also 1/0, yes/no, on/off)"
TOKENS = {  # what each platform's secrets look like: a comment or a quote copied in is caught here
    "telegram_token": (re.compile(r"\d+:[A-Za-z0-9_-]+"), "a BotFather token such as 123456:ABC-def..."),
    "slack_bot_token": (re.compile(r"xoxb-[A-Za-z0-9-]+"), "a bot token starting xoxb-"),
    "slack_app_token": (re.compile(r"xapp-[A-Za-z0-9-]+"), "an app-level token starting xapp-"),
    "telegram_webhook_secret": (re.compile(r"[A-Za-z0-9_-]{1,256}"), "1-256 letters, digits, _ or -"),
    "notify_api_key": (re.compile(r"[A-Za-z0-9_-]*[0-9a-f-]{73}"), "a GOV.UK Notify API key (name-serviceid-secret)"),
    "twilio_auth_token": (re.compile(r"[0-9a-f]{32}"), "the 32-character auth token from the Twilio console"),
}
ANY_SECRET = (re.compile(r"[!-~]+"), "printable characters without spaces or quotes")
TYPE_ERRORS = {"int": "a whole number", "float": "a number", "bool": BOOL, "path": "a file or folder path",
               "string": "text"}


def is_url(target: object) -> bool:
    """A PostgreSQL URL (else a SQLite file): one spelling for the settings and the store (bot/store/pg.py)."""
    return str(target).startswith(("postgresql://", "postgres://"))


def hide_password(url: str) -> str:
    """A store URL (or a message that quotes one) for logs and messages: its password is never shown."""
    return QUERY_PASSWORD.sub(r"\1***", PASSWORD.sub(r"\1:***@", url))


def passwords_in(url: str) -> list[str]:
    """The password(s) in a store URL, and the pieces of one with an unescaped @ (an error may quote a piece)."""
    found = [m.group(2) for m in PASSWORD.finditer(url)] + [m.group(2) for m in QUERY_PASSWORD.finditer(url)]
    pieces = [p for f in found for p in f.split("@") if len(p) >= 3]
    return sorted({s for s in found + pieces if s}, key=len, reverse=True)


def _duration(value: str) -> str:
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(DURATION) from None
    if seconds > LONGEST:
        raise ValueError(DURATION)
    return value.strip()


def _durations(value: str) -> str:
    for part in value.split(","):
        if part.strip():
            _duration(part)
    return value


def _level(value: str) -> str:
    if value.strip().upper() not in LEVELS:
        raise ValueError(", ".join(LEVELS))
    return value.strip().upper()


def _matching(pattern: str, wanted: str) -> Callable[[str], str]:
    """A validator: the value, stripped, must match `pattern` in full; otherwise say what is wanted."""
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value.strip()):
            raise ValueError(wanted)
        return value.strip()
    return check


_ladder = _matching(r"[A-Za-z0-9_-]+", "the name of a ladder in codewords.yaml, such as urgent")
_twilio_sid = _matching(r"AC[0-9a-f]{32}", "the Account SID from the Twilio console, AC and 32 hex digits")
_e164 = _matching(r"\+[1-9]\d{7,14}", "a phone number in international form, such as +441632960000")


def _username(value: str) -> str:
    if not re.fullmatch(r"@?[A-Za-z][A-Za-z0-9_]{4,31}", value.strip()):
        raise ValueError("the bot's Telegram username, 5-32 letters, digits or _ (such as MyLibrarySaferBot)")
    return value.strip().removeprefix("@")


def _uuid(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value.strip().lower()):
        raise ValueError("the template's id from GOV.UK Notify, such as f33517ff-2a88-4f6e-b855-c550268ce08a")
    return value.strip().lower()


DurationText = Annotated[str, AfterValidator(_duration)]


def _at_most_30d(value: str) -> str:
    if parse_duration(value) > 30 * 86400:
        raise ValueError("a duration of at most 30d (a heads-up is short-lived by design)")
    return value


def _check_field(name: str, value: object) -> object:
    """The name- and type-based rules for every field (see the module docstring)."""
    if isinstance(value, bool) or value is None:
        return value
    if name.endswith("_port") and isinstance(value, int):
        if not 0 <= value <= 65535:
            raise ValueError("a TCP port, 1 to 65535 (0: any free port)")
    elif isinstance(value, int | float):
        low, high = BOUNDS.get(name, (None, 1_000_000))
        if not (math.isfinite(value) and value <= high and (value > 0 if low is None else value >= low)):
            raise ValueError(f"a number above 0, at most {high}" if low is None else f"a number from {low} to {high}")
    elif isinstance(value, SecretStr):
        pattern, accepted = TOKENS.get(name, ANY_SECRET)
        if not pattern.fullmatch(value.get_secret_value()):
            raise ValueError(accepted)
    elif isinstance(value, str) and name.endswith("_url"):
        if not re.fullmatch(r"https?://[^\s/?#\"']+[^\s\"']*", value):
            raise ValueError("an http:// or https:// URL")
    elif isinstance(value, str) and name.endswith(("_listen", "_host")):
        try:
            ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            if value != "localhost":
                raise ValueError("an IP address to listen on, such as 127.0.0.1, 0.0.0.0 or ::") from None
    return value


class SettingsError(Exception):
    """Some SAFERBOT_* values are not usable: one line per variable, for people to read."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _shown(name: str, value: object) -> str:
    """The bad value as typed; a secret is never printed, only its length."""
    if "token" in name or "secret" in name or name.endswith("_key"):
        return f"(hidden, {len(str(value))} characters)"
    return repr(value if isinstance(value, str) else str(value))


def explain(error: ValidationError) -> SettingsError:
    """Pydantic's report, as one line per variable naming the value and what is accepted."""
    problems = []
    for e in error.errors(include_url=False):
        name = str(e["loc"][0]) if e["loc"] else "?"
        kind = e["type"]
        if kind == "value_error":
            accepted = str(e.get("ctx", {}).get("error", e["msg"]))
        else:
            accepted = next((v for k, v in TYPE_ERRORS.items() if kind.startswith(k)), e["msg"])
        problems.append(f"SAFERBOT_{name.upper()}={_shown(name, e.get('input'))} is not usable; accepted: {accepted}")
    return SettingsError(problems)


def load_settings(**values) -> Settings:
    """Settings() with a SettingsError (one line per bad variable) instead of a pydantic traceback."""
    try:
        return Settings(**values)
    except ValidationError as e:
        raise explain(e) from None


def ladder_problems(settings: Settings, book) -> list[str]:
    """The settings that name a ladder must name one the codeword book has (else a fallback would be used)."""
    known = ", ".join(book.ladders)
    return [f"SAFERBOT_{name.upper()}={getattr(settings, name)!r} is not a ladder in {settings.codewords_file}; "
            f"accepted: {known}" for name in ("backup_ladder", "lockdown_ladder")
            if getattr(settings, name) not in book.ladders] + phone_rung_problems(settings, book)


def phone_rung_problems(settings: Settings, book) -> list[str]:
    """A ladder tier with `sms: true` or `call: true` needs its provider configured (docs/phone.md)."""
    need = {"sms": ("notify_api_key", "notify_sms_template"),
            "call": ("twilio_account_sid", "twilio_auth_token", "twilio_from", "phone_public_url", "health_port")}
    out = []
    for name, ladder in book.ladders.items():
        for i, tier in enumerate(ladder.tiers, 1):
            for rung, fields in need.items():
                missing = [f"SAFERBOT_{f.upper()}" for f in fields if not getattr(settings, f)]
                if getattr(tier, rung) and missing:
                    out.append(f"ladder {name!r} tier {i} in {settings.codewords_file} says {rung}: true but "
                               f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; fix: set "
                               f"{'it' if len(missing) == 1 else 'them'} (docs/phone.md) or remove {rung}: true")
    return out


def settings_failed(problems: list[str]):
    print(f"saferbot: {len(problems)} setting(s) cannot be used:", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    print("Fix them in the environment or the env file (docs/admin.md, Settings); nothing was started.",
          file=sys.stderr)
    raise SystemExit(2)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFERBOT_", env_file=".env", extra="ignore",
                                      env_ignore_empty=True)

    @field_validator("db", mode="before")
    @classmethod
    def _db_text(cls, v: object) -> str:
        return str(v)  # a Path is fine too

    @field_validator("*", mode="after")
    @classmethod
    def _every_field(cls, v: object, info: ValidationInfo) -> object:
        return _check_field(info.field_name or "", v)

    @property
    def db_shown(self) -> str:
        """SAFERBOT_DB for logs and messages: a password in a URL is never shown."""
        return hide_password(self.db)

    @property
    def on_postgres(self) -> bool:
        """SAFERBOT_DB is a postgresql:// URL (else it is a SQLite file)."""
        return is_url(self.db)

    db: str = "saferbot.db"  # a SQLite file path, or a postgresql://user@host/db URL
    service_file: Path = Path("config/service.yaml")
    codewords_file: Path = Path("codewords.yaml")
    log_level: Annotated[str, AfterValidator(_level)] = "INFO"
    log_messages: bool = False  # True: what people type may appear in DEBUG logs (tokens never do)
    files_dir: Path | None = None  # charts and exports (private); default: files/ beside the database
    lease_ttl: float = 5.0  # PostgreSQL, two instances: seconds a silent active instance keeps the lease

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str | None = None  # default: listen_host
    telegram_webhook_port: int = 8443
    telegram_bot_username: Annotated[str, AfterValidator(_username)] | None = None  # for invite links when the bot has not run yet
    invite_valid_for: DurationText = "7d"  # how long a registration link works (used once)

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_http_port: int = 3000
    slack_http_listen: str | None = None  # default: listen_host

    # delivery: retry backoff starts here and doubles up to outbox_backoff_max
    outbox_backoff: float = 1.0
    outbox_backoff_max: float = 60.0
    outbox_max_attempts: int = 12  # for messages below alarm priority: alarms never give up
    outbox_probe_interval: float = 1.0  # seconds between tries of a platform that is failing
    outbox_outage_notice: float = 60.0  # seconds of failing alarm delivery before admins are told

    # incidents and evidence
    incident_reminder_first: DurationText = "2h"
    incident_reminder_every: DurationText = "24h"
    incident_manager_after: DurationText = "24h"
    retention_years: int = 6
    outbox_retention: DurationText = "30d"  # delivered message bodies (they may quote an incident) are cleared after this
    welfare_checkins: Annotated[str, AfterValidator(_durations)] = "1w,2w,4w"

    # bans and heads-ups (docs/bans.md)
    ban_confirm_within: DurationText = "3d"  # an on-the-spot ban not confirmed by a manager by then lapses
    ban_decider_role: Literal["staff", "duty_manager", "admin"] = "duty_manager"  # least role to decide a ban
    headsup_expiry: Annotated[str, AfterValidator(_duration), AfterValidator(_at_most_30d)] = "14d"

    # people, duty, backup and lockdown
    roster_refresh: float = 2.0  # seconds: how soon a command-line roster edit reaches a running bot
    shift_expiry: DurationText = "14h"  # a forgotten "on shift" (or "off shift") stops counting after this
    backup_wait: DurationText = "2m"  # nobody says On my way within this: the backup request climbs its ladder
    backup_ladder: Annotated[str, AfterValidator(_ladder)] = "urgent"  # ladder for a typed `backup` (a codeword uses its own ladder)
    rollcall_wait: DurationText = "5m"  # no answer to a lockdown/evacuation roll call within this: escalate
    # a silent person may be hiding: "once" asks them again once when they are escalated, "quiet" never does
    rollcall_nudge: Literal["once", "quiet"] = "once"
    lockdown_ladder: Annotated[str, AfterValidator(_ladder)] = "urgent"  # ladder for "I need help" and no-answer alerts during a lockdown

    # the phone rung (docs/phone.md): texts by GOV.UK Notify, calls by Twilio
    notify_api_key: SecretStr | None = None
    notify_sms_template: Annotated[str, AfterValidator(_uuid)] | None = None  # the id of the text message template whose body is ((message))
    notify_api_url: str = "https://api.notifications.service.gov.uk"
    notify_callback_token: SecretStr | None = None  # the bearer token Notify sends with receipts and texts in
    twilio_account_sid: Annotated[str, AfterValidator(_twilio_sid)] | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: Annotated[str, AfterValidator(_e164)] | None = None  # the number calls come from, +44...
    twilio_api_url: str = "https://api.twilio.com"
    phone_public_url: str | None = None  # where Twilio reaches /phone/twilio/... (the health port, behind the proxy)

    # operating it (docs/operating.md)
    console: bool = True  # false (services, containers): `run` never reads standard input, even with no token
    standby: bool = True  # a second process on the same database waits as a standby (False: it refuses)
    heartbeat_url: str | None = None  # called every minute while healthy (Healthchecks.io / Uptime Kuma push URL)
    health_port: int | None = None  # GET /healthz on this port (off when unset)
    health_listen: str | None = None  # default: listen_host
    trigger_silent_after: DurationText = "5m"  # a panic button not heard from this long in opening hours: admins told
    board: bool = False  # the duty manager's board on the health port (docs/board.md)
    board_url: str | None = None  # the board's public base URL, for the sign-in links (https://...)

    # ports facing the network (bot/listen.py): where they bind, and what a flood of connections may take
    listen_host: str = "127.0.0.1"  # webhooks, Slack HTTP and /healthz; a reverse proxy in front (docs/operating.md)
    listen_max_connections: int = 256  # per port (fewer if the open-file limit is low)
    listen_header_timeout: float = 10.0  # seconds for a request's headers (and idle time between requests)
    listen_body_timeout: float = 30.0  # seconds for a request's body once its headers arrived

    def host_for(self, specific: str | None) -> str:
        """Where one port binds: its own setting if given, else SAFERBOT_LISTEN_HOST."""
        return specific or self.listen_host

    @property
    def console_only(self) -> bool:
        return not (self.telegram_token or self.slack_bot_token)
