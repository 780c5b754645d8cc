"""Ports to the models: what a generation is asked, what it gives back, and the clients that
make one. ``core.ports`` re-exports every name here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, kw_only=True)
class Image:
    """An image a user attached, for a model that sees images (``ModelSpec.vision``)."""

    mime_type: str  # image/png, image/jpeg, image/gif or image/webp, judged by its bytes
    data: bytes

    def data_url(self) -> str:
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode()}"


@dataclass(frozen=True, kw_only=True)
class ChatTurn:
    """One turn. ``content`` is always its whole text, so a client that renders a raw prompt
    reads it as before; ``images`` go with it only to a chat API of a vision model (as
    OpenAI-compatible ``image_url`` parts after the text)."""

    role: Role
    content: str
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    max_input_tokens: int  # the prompt's limit, as the server states it (TGI /info) or the registry


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """What to generate. ``messages`` always carries the conversation; a client for a raw
    completion API renders it with the model's prompt format, a chat API sends it as is."""

    messages: tuple[ChatTurn, ...]
    max_new_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None  # constrain the output (TGI grammar / response_format)
    extra: dict[str, Any] = field(default_factory=dict)
    # The start of the assistant's answer, to go on from (a cut answer's text, for
    # /continue): a raw-prompt API gets it after the rendered prompt with no end of turn; a
    # chat API gets it as a final assistant message to continue (docs/models.md).
    prefix: str = ""


@dataclass
class Usage:
    """What the server reported about one generation (filled in as the stream ends)."""

    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    finish_reason: str | None = None


class TokenStream(Iterator[str]):
    """The text deltas of one generation. Once exhausted, ``usage`` holds the server's
    counts; ``close()`` ends the generation early (the HTTP connection is released)."""

    def __init__(self, deltas: Iterator[str], usage: Usage | None = None) -> None:
        self._deltas = deltas
        self.usage = usage if usage is not None else Usage()

    def __iter__(self) -> Iterator[str]:
        # The deltas themselves: a ``for`` loop then steps the generator with no call of ours
        # in between (once per token); ``next(stream)`` still works.
        return self._deltas

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()


class ModelClient(Protocol):
    """One model endpoint. ``stream`` yields text deltas as they arrive and raises the
    ``core.errors.ModelError`` subclasses, which say whether a retry can help."""

    name: str

    def info(self) -> ModelInfo: ...

    def count_tokens(self, text: str) -> int:
        """The server's own count where it has a tokenizer endpoint, else an estimate."""
        ...

    def render(self, messages: tuple[ChatTurn, ...]) -> str:
        """The prompt text as this model would see it (for counting and for raw APIs)."""
        ...

    def stream(self, request: GenerationRequest) -> TokenStream: ...

    def healthy(self) -> bool: ...


class ModelDirectory(Protocol):
    """The model registry as the job runner sees it."""

    def names(self) -> list[str]: ...

    def default_for(self, kind: str) -> str: ...

    def client(self, name: str) -> ModelClient: ...

    def describe(self, name: str) -> str: ...

    def is_hosted(self, name: str) -> bool:
        """A hosted API: messages sent to it leave the deployment."""
        ...

    def reachability(self) -> dict[str, bool]:
        """Which models answer now, checked together."""
        ...
