"""Settings from SAFERBOT_* environment variables or a .env file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# the password in postgresql://user:password@host/db; greedy to the address's last @, so an unescaped @
# in the password does not leave its tail showing
PASSWORD = re.compile(r"(://[^\s:/@]+):(\S*)@")
QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)([^&\s]*)")  # postgresql://user@host/db?password=...


def hide_password(url: str) -> str:
    """A store URL (or a message that quotes one) for logs and messages: its password is never shown."""
    return QUERY_PASSWORD.sub(r"\1***", PASSWORD.sub(r"\1:***@", url))


def passwords_in(url: str) -> list[str]:
    """The password(s) in a store URL, and the pieces of one with an unescaped @ (an error may quote a piece)."""
    found = [m.group(2) for m in PASSWORD.finditer(url)] + [m.group(2) for m in QUERY_PASSWORD.finditer(url)]
    pieces = [p for f in found for p in f.split("@") if len(p) >= 3]
    return sorted({s for s in found + pieces if s}, key=len, reverse=True)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFERBOT_", env_file=".env", extra="ignore")

    @field_validator("db", mode="before")
    @classmethod
    def _db_text(cls, v: object) -> str:
        return str(v)  # a Path is fine too

    @property
    def db_shown(self) -> str:
        """SAFERBOT_DB for logs and messages: a password in a URL is never shown."""
        return hide_password(self.db)

    @property
    def on_postgres(self) -> bool:
        """SAFERBOT_DB is a postgresql:// URL (else it is a SQLite file)."""
        from .store.pg import is_url

        return is_url(self.db)

    db: str = "saferbot.db"  # a SQLite file path, or a postgresql://user@host/db URL
    service_file: Path = Path("config/service.yaml")
    codewords_file: Path = Path("codewords.yaml")
    log_level: str = "INFO"
    log_messages: bool = False  # True: what people type may appear in DEBUG logs (tokens never do)
    files_dir: Path | None = None  # charts and exports (private); default: files/ beside the database
    lease_ttl: float = 5.0  # PostgreSQL, two instances: seconds a silent active instance keeps the lease

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str | None = None  # default: listen_host
    telegram_webhook_port: int = 8443
    telegram_bot_username: str | None = None  # for invite links when the bot has not run yet
    invite_valid_for: str = "7d"  # how long a registration link works (used once)

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
    incident_reminder_first: str = "2h"
    incident_reminder_every: str = "24h"
    incident_manager_after: str = "24h"
    retention_years: int = 6
    outbox_retention: str = "30d"  # delivered message bodies (they may quote an incident) are cleared after this
    welfare_checkins: str = "1w,2w,4w"

    # people, duty, backup and lockdown
    roster_refresh: float = 2.0  # seconds: how soon a command-line roster edit reaches a running bot
    shift_expiry: str = "14h"  # a forgotten "on shift" (or "off shift") stops counting after this
    backup_wait: str = "2m"  # nobody says On my way within this: the backup request climbs its ladder
    backup_ladder: str = "urgent"  # ladder for a typed `backup` (a codeword uses its own ladder)
    rollcall_wait: str = "5m"  # no answer to a lockdown/evacuation roll call within this: escalate
    # a silent person may be hiding: "once" asks them again once when they are escalated, "quiet" never does
    rollcall_nudge: Literal["once", "quiet"] = "once"
    lockdown_ladder: str = "urgent"  # ladder for "I need help" and no-answer alerts during a lockdown

    # operating it (docs/operating.md)
    standby: bool = True  # a second process on the same database waits as a standby (False: it refuses)
    heartbeat_url: str | None = None  # called every minute while healthy (Healthchecks.io / Uptime Kuma push URL)
    health_port: int | None = None  # GET /healthz on this port (off when unset)
    health_listen: str | None = None  # default: listen_host

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
