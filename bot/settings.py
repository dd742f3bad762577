"""Settings from SAFERBOT_* environment variables or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFERBOT_", env_file=".env", extra="ignore")

    db: Path = Path("saferbot.db")
    service_file: Path = Path("config/service.yaml")
    codewords_file: Path = Path("codewords.yaml")
    log_level: str = "INFO"

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = 8443

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_http_port: int = 3000

    # delivery: retry backoff starts here and doubles up to outbox_backoff_max
    outbox_backoff: float = 1.0
    outbox_backoff_max: float = 60.0
    outbox_max_attempts: int = 12

    # incidents and evidence
    incident_reminder_first: str = "2h"
    incident_reminder_every: str = "24h"
    incident_manager_after: str = "24h"
    retention_years: int = 6
    welfare_checkins: str = "1w,2w,4w"

    @property
    def console_only(self) -> bool:
        return not (self.telegram_token or self.slack_bot_token)
