"""Where a Slack answer goes, carried through the job opaquely (core never reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.messages import ReplyAddress


@dataclass(frozen=True, kw_only=True)
class SlackAddress:
    # The thread to answer in (a mention's thread, an assistant DM thread); None: the channel.
    thread_ts: str | None = None
    # A slash command, as typed: the answer goes in a thread under a header naming it.
    command: str | None = None
    # Fallback when the bot is not in the channel (slash commands and shortcuts).
    response_url: str | None = None
    assistant: bool = False  # Slack's assistant container: it shows a "thinking" status

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SlackAddress:
        return cls(**data)


def slack_address(address: ReplyAddress) -> SlackAddress:
    """A Slack job's address; a job from elsewhere here is a wiring fault, said loudly."""
    if not isinstance(address, SlackAddress):
        raise TypeError(f"not a Slack address: {address!r}")
    return address
