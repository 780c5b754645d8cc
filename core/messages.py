"""The platform-neutral shapes that adapters produce and the core consumes."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class ReplyAddress(Protocol):
    """Where and how to answer, in one platform's own terms (a Slack thread and
    response_url, a Discord interaction, a Telegram topic): its adapter writes it, its
    delivery reads it, and the core carries it without looking inside."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NoAddress:
    """The channel is address enough (the console, tests)."""

    def to_json(self) -> dict[str, Any]:
        return {}


class AddressCodec(Protocol):
    """Rebuilds a platform's address from its JSON (the composition root knows the types)."""

    def decode(self, platform: str, data: dict[str, Any]) -> ReplyAddress: ...


class NoAddresses:
    """A codec for stores that only ever hold addressless messages."""

    def decode(self, platform: str, data: dict[str, Any]) -> ReplyAddress:
        return NoAddress()


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
    ``address`` is where the platform's delivery answers; the core never reads it.
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
    address: ReplyAddress = field(default_factory=NoAddress)
    # The sender's roles where the platform has them (Discord role ids), for the allowlists.
    roles: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["attachments"] = [a.to_json() for a in self.attachments]
        data["address"] = self.address.to_json()
        data["roles"] = list(self.roles)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, addresses: AddressCodec) -> InboundMessage:
        fields = dict(data)
        fields["attachments"] = tuple(Attachment.from_json(a) for a in data.get("attachments", []))
        fields["address"] = addresses.decode(str(data["platform"]), dict(data.get("address") or {}))
        fields["roles"] = tuple(data.get("roles") or ())
        return cls(**fields)

