"""A job: one unit of model work, stored in Redis and referred to by id everywhere else."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.messages import AddressCodec, InboundMessage


@dataclass(frozen=True, kw_only=True)
class Job:
    kind: str  # the command's name in the table (core/table.py)
    message: InboundMessage
    scope: str
    args: dict[str, str] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)
    # Regenerate: the job whose answer (its messages, its remembered exchange) this one replaces.
    replaces: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "scope": self.scope,
            "args": self.args,
            "created_at": self.created_at,
            "message": self.message.to_json(),
            "replaces": self.replaces,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, addresses: AddressCodec) -> Job:
        return cls(
            id=data["id"],
            kind=str(data["kind"]),
            scope=data["scope"],
            args=dict(data.get("args") or {}),
            created_at=float(data["created_at"]),
            message=InboundMessage.from_json(data["message"], addresses=addresses),
            replaces=data.get("replaces"),
        )
