"""Every setting, read from the environment once, in one place.

Prefix ``TERTULIA_`` except the platforms' own conventional names (``SLACK_BOT_TOKEN``...),
which are declared with an explicit alias. Secrets are ``SecretStr`` so that a settings
object printed into a log shows ``**********``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    # An empty variable (`SLACK_APP_TOKEN=` in an env file) means "not set", not "".
    model_config = SettingsConfigDict(
        env_prefix="TERTULIA_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    # --- infrastructure ---
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None  # defaults to redis_url
    key_prefix: str = "tertulia"  # every Redis key we write starts with it
    queue: str = "tertulia"
    run_dir: Path = REPO_ROOT / ".run"  # logs, pid files and the private Redis of `tertulia up`

    # --- models ---
    tgi_url: str = "http://127.0.0.1:8080"
    models_file: Path = REPO_ROOT / "config" / "models.toml"
    default_model: str | None = None  # overrides the registry's default
    request_timeout: float = 30.0  # connect; the first token (or token_timeout, if longer)
    token_timeout: float = 20.0  # the gap allowed between two streamed tokens (keep-alives don't count)
    info_ttl_seconds: float = 300.0  # how long a server's /info limits are trusted before re-reading

    # --- jobs ---
    max_input_chars: int = 12_000
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_document_chars: int = 400_000  # text read from files/threads, summarised map-reduce
    context_ttl_seconds: int = 24 * 3600
    job_ttl_seconds: int = 24 * 3600
    model_retries: int = 4
    retry_backoff_base: float = 2.0
    retry_backoff_max: float = 60.0
    worker_concurrency: int = 256

    # --- delivery ---
    console_update_interval: float = 0.05
    # A worker process asks Redis for a destination's rate budget at most once per this many
    # seconds (or per interval, if longer) and hands out the slots in between itself.
    rate_lease_seconds: float = 0.5

    # --- operations ---
    log_level: str = "INFO"
    health_port: int = 0  # 0: no health server for this process
    metrics_port: int = 0

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=_alias("SLACK_BOT_TOKEN"))
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=_alias("SLACK_APP_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("SLACK_SIGNING_SECRET")
    )
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias=_alias("SLACK_API_URL"))
    slack_port: int = 3000

    # --- Discord ---
    discord_bot_token: SecretStr | None = Field(default=None, validation_alias=_alias("DISCORD_BOT_TOKEN"))
    discord_api_url: str = Field(
        default="https://discord.com/api/v10", validation_alias=_alias("DISCORD_API_URL")
    )
    discord_gateway_url: str | None = Field(default=None, validation_alias=_alias("DISCORD_GATEWAY_URL"))

    # --- Telegram ---
    telegram_bot_token: SecretStr | None = Field(default=None, validation_alias=_alias("TELEGRAM_BOT_TOKEN"))
    telegram_api_url: str = Field(
        default="https://api.telegram.org", validation_alias=_alias("TELEGRAM_API_URL")
    )
    telegram_webhook_url: str | None = Field(default=None, validation_alias=_alias("TELEGRAM_WEBHOOK_URL"))
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("TELEGRAM_WEBHOOK_SECRET")
    )
    telegram_port: int = 8443

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
