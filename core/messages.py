"""The platform-neutral shapes that adapters produce and the core consumes."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """A file the user shared. Either its bytes came with the message (console, small
    uploads) or the worker fetches it later from ``url`` (``PlatformDelivery.fetch_file``),
    so that adapters never download inside the platform's ack window."""

    name: str
    size: int
    url: str | None = None
    content: bytes | None = None
    mime_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["content"] = base64.b64encode(self.content).decode() if self.content is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        raw = data.get("content")
        return cls(
            name=data["name"],
            size=int(data["size"]),
            url=data.get("url"),
            content=base64.b64decode(raw) if raw is not None else None,
            mime_type=data.get("mime_type"),
        )


@dataclass(frozen=True, kw_only=True)
class InboundMessage:
    """One thing a user typed, normalised.

    ``addressed`` is the adapter's verdict that plain text is meant for the bot (a DM, a
    mention, a reply to the bot); the router treats addressed plain text as chat.
    ``reply`` holds the platform ids a Responder needs (Slack ``response_url``, a Discord
    interaction token, a Telegram ``message_thread_id``...); the core never reads it.
    """

    platform: str
    workspace: str
    channel: str
    user: str
    text: str
    thread: str | None = None
    user_name: str | None = None
    locale: str | None = None
    is_dm: bool = False
    addressed: bool = False
    message_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # Text around the message that a command may read when its line names none:
    # "thread" (the thread it is in), "reply" (the message it replies to), "channel".
    context: str | None = None
    reply: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["attachments"] = [a.to_json() for a in self.attachments]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InboundMessage:
        fields = dict(data)
        fields["attachments"] = tuple(Attachment.from_json(a) for a in data.get("attachments", []))
        fields["reply"] = dict(data.get("reply") or {})
        return cls(**fields)

