"""Slack-only settings, read from the environment (prefix ``TERTULIA_SLACK_``, and Slack's
own conventional names for its tokens: ``SLACK_BOT_TOKEN``...).

They live here rather than in ``core/settings.py`` because only the Slack adapter and its
worker-side delivery read them: the core knows no platform's tokens. Slash commands are
workspace-global, so every command name is configurable: two apps in one workspace cannot
both own ``/summarize``.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.table import COMMANDS

UMBRELLA = "tertulia"  # the one slash command for the commands without their own


def slash_command_names() -> list[str]:
    """The table's commands that get a slash command of their own on Slack."""
    return [spec.name for spec in COMMANDS if spec.own_slash_command]


class SlackConfig(BaseSettings):
    # An empty variable (`SLACK_APP_TOKEN=` in an env file) means "not set", not "".
    model_config = SettingsConfigDict(
        env_prefix="TERTULIA_SLACK_", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "bot_token"))
    app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "app_token"))
    signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "signing_secret")
    )
    api_url: str = Field(default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL", "api_url"))
    port: int = 3000  # HTTP mode's port for POST /slack/events

    shortcut_summarize: str = "summarize_thread"  # callback_id of the message shortcut
    # /summarize with no text reads the channel's recent history: at most this many
    # messages, none older than this many hours.
    channel_window_messages: int = 100
    channel_window_hours: float = 24.0
    thread_max_messages: int = 1000  # a thread summary reads at most this many replies
    streaming: bool = True  # native chat.startStream; off: post + chat.update
    # A workspace whose streaming methods were refused is asked again after this long (0: every answer).
    stream_recheck_seconds: float = 600.0
    host: str = "0.0.0.0"  # HTTP mode listens here, on TERTULIA_SLACK_PORT

    def commands(self) -> dict[str, str]:
        """Slack command name (with its slash) -> the table's command name, or UMBRELLA.
        ``TERTULIA_SLACK_COMMAND_<NAME>`` renames one (``TERTULIA_SLACK_COMMAND_ESSAY=/ai-essay``)."""
        names = {}
        for name in (*slash_command_names(), UMBRELLA):
            slash = os.environ.get(f"TERTULIA_SLACK_COMMAND_{name.upper()}") or f"/{name}"
            names[slash if slash.startswith("/") else f"/{slash}"] = name
        return names


@lru_cache(maxsize=1)
def get_slack_config() -> SlackConfig:
    return SlackConfig()
