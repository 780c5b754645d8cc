"""Telegram-only settings, read from the environment under Telegram's conventional names
(and ``TERTULIA_TELEGRAM_PORT``): the core knows no platform's tokens."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TelegramConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TERTULIA_TELEGRAM_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "bot_token"))
    api_url: str = Field(
        default="https://api.telegram.org", validation_alias=AliasChoices("TELEGRAM_API_URL", "api_url")
    )
    webhook_url: str | None = Field(default=None, validation_alias=AliasChoices("TELEGRAM_WEBHOOK_URL", "webhook_url"))
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_WEBHOOK_SECRET", "webhook_secret")
    )
    port: int = 8443  # webhook mode's listening port
    # A server that refused sendMessageDraft is asked again after this long (0: every answer).
    draft_recheck_seconds: float = 600.0


@lru_cache(maxsize=1)
def get_telegram_config() -> TelegramConfig:
    return TelegramConfig()
