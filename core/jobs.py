"""A job: one unit of model work, stored in Redis and referred to by id everywhere else."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.messages import InboundMessage


class JobKind(StrEnum):
    ESSAY = "essay"
    SUMMARIZE = "summarize"
    TRANSLATE = "translate"
    CHAT = "chat"
    ENTITIES = "entities"
    CODE = "code"
    MODELS = "models"  # needs HTTP (reachability), so it runs on a worker too


@dataclass(frozen=True, kw_only=True)
class Job:
    kind: JobKind
    message: InboundMessage
    scope: str
    args: dict[str, str] = field(default_factory=dict)
    # Text that came from elsewhere than the user's line: a thread, a channel's history.
    source_text: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "scope": self.scope,
            "args": self.args,
            "source_text": self.source_text,
            "created_at": self.created_at,
            "message": self.message.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=data["id"],
            kind=JobKind(data["kind"]),
            scope=data["scope"],
            args=dict(data.get("args") or {}),
            source_text=data.get("source_text"),
            created_at=float(data["created_at"]),
            message=InboundMessage.from_json(data["message"]),
        )
