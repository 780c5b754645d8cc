"""Where a Telegram answer goes, carried through the job opaquely (core never reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.messages import ReplyAddress


@dataclass(frozen=True, kw_only=True)
class TelegramAddress:
    chat_id: int
    private: bool = False  # a private chat streams into a draft; groups edit a message
    message_thread_id: int | None = None  # a forum topic
    reply_to: int | None = None  # in groups, the answer replies to the user's message
    # The replied-to message, for commands that read it: the Bot API can't fetch it later.
    replied_text: str | None = None
    replied_author: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TelegramAddress:
        return cls(**data)


def telegram_address(address: ReplyAddress) -> TelegramAddress:
    """A Telegram job's address; a job from elsewhere here is a wiring fault, said loudly."""
    if not isinstance(address, TelegramAddress):
        raise TypeError(f"not a Telegram address: {address!r}")
    return address
