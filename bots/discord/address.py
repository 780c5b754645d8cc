"""Where a Discord answer goes, carried through the job opaquely (core never reads it):
what the adapter records so that a worker can answer later with plain HTTP."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.messages import ReplyAddress


@dataclass(frozen=True, kw_only=True)
class Interaction:
    """A slash command's interaction: the worker edits its deferred response."""

    application_id: int
    interaction_id: int
    token: str
    created_at: float  # epoch seconds; the token lives 15 minutes from here
    response_message_id: int | None = None  # the deferred "thinking" message, when known


@dataclass(frozen=True, kw_only=True)
class DiscordAddress:
    channel_id: int
    interaction: Interaction | None = None  # None: answer with channel messages
    message_id: int | None = None  # the user's message a channel answer replies to
    referenced_message_id: int | None = None  # what the user's message replied to

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DiscordAddress:
        fields = dict(data)
        if fields.get("interaction") is not None:
            fields["interaction"] = Interaction(**fields["interaction"])
        return cls(**fields)


def discord_address(address: ReplyAddress) -> DiscordAddress:
    """A Discord job's address; a job from elsewhere here is a wiring fault, said loudly."""
    if not isinstance(address, DiscordAddress):
        raise TypeError(f"not a Discord address: {address!r}")
    return address
