"""Slack-only settings, read from the environment (prefix ``TERTULIA_SLACK_``).

They live here rather than in ``core/settings.py`` because only the Slack adapter and its
worker-side delivery read them. Slash commands are workspace-global, so every command name
is configurable: two apps in one workspace cannot both own ``/summarize``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

# The job commands an app offers, by canonical name (what core/commands.py understands).
JOB_COMMANDS = ("essay", "summarize", "translate", "chat", "entities", "code")


class SlackConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERTULIA_SLACK_", extra="ignore")

    command_essay: str = "/essay"
    command_summarize: str = "/summarize"
    command_translate: str = "/translate"
    command_chat: str = "/chat"
    command_entities: str = "/entities"
    command_code: str = "/code"
    command_tertulia: str = "/tertulia"  # help, model, models, reset
    shortcut_summarize: str = "summarize_thread"  # callback_id of the message shortcut
    # /summarize with no text reads the channel's recent history: at most this many
    # messages, none older than this many hours.
    channel_window_messages: int = 100
    channel_window_hours: float = 24.0
    thread_max_messages: int = 1000  # a thread summary reads at most this many replies
    streaming: bool = True  # native chat.startStream; off: post + chat.update
    host: str = "0.0.0.0"  # HTTP mode listens here, on TERTULIA_SLACK_PORT (core settings)

    def commands(self) -> dict[str, str]:
        """Slack command name (with its slash) -> canonical command name."""
        names = {getattr(self, f"command_{name}"): name for name in (*JOB_COMMANDS, "tertulia")}
        return {slash if slash.startswith("/") else f"/{slash}": name for slash, name in names.items()}


@lru_cache(maxsize=1)
def get_slack_config() -> SlackConfig:
    return SlackConfig()
