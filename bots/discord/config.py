"""Discord-only settings, read from the environment under Discord's conventional names:
the core knows no platform's tokens."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DiscordConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TERTULIA_DISCORD_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("DISCORD_BOT_TOKEN", "bot_token"))
    api_url: str = Field(
        default="https://discord.com/api/v10", validation_alias=AliasChoices("DISCORD_API_URL", "api_url")
    )
    # Unset: asked of GET /gateway/bot through api_url, as Discord recommends.
    gateway_url: str | None = Field(default=None, validation_alias=AliasChoices("DISCORD_GATEWAY_URL", "gateway_url"))


@lru_cache(maxsize=1)
def get_discord_config() -> DiscordConfig:
    return DiscordConfig()
