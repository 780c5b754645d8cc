"""The shapes of the command table: what one command is, its arguments and its sampling.

The table itself is ``core.table.COMMANDS``; everything that lists commands (the router,
the runner, /help, Slack's manifest, Telegram's menu, Discord's command tree) reads it.
Catalogue keys follow from the name: ``command.<name>`` (a one-line description for
menus), ``help.<name>`` (its line in /help), ``usage.<name>`` and ``option.<name>.<arg>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from core.messages import InboundMessage
from core.ports import ChatTurn, Image

Messages = tuple[ChatTurn, ...]


class ArgType(StrEnum):
    TEXT = "text"  # free text: the rest of a typed line
    LANGUAGE = "language"  # a language name or ISO code (autocompleted), resolved to its English name
    MODEL = "model"  # a model name from the registry (autocompleted)
    COUNT = "count"  # a whole number; offered only where the platform types it (an option)


@dataclass(frozen=True, kw_only=True)
class Arg:
    name: str
    type: ArgType = ArgType.TEXT
    required: bool = True
    # False: a platform option only (Discord), never read from a typed line.
    positional: bool = True
    maximum: int | None = None  # for COUNT


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """What a command asks of generation. None or empty: the model preset decides."""

    temperature: float | None = None
    max_new_tokens: int | None = None
    stop: tuple[str, ...] = ()


class Recipe(Protocol):
    """How a worker answers one job of a command (see core/recipes.py)."""

    def answer(self, work: Work) -> str: ...


class Work(Protocol):
    """What a recipe may use while a job runs; the runner provides it (core/work.py)."""

    @property
    def args(self) -> Mapping[str, str]: ...

    @property
    def locale(self) -> str | None: ...

    def notify(self, key: str, **params: object) -> None: ...

    def generate(
        self, messages: Messages, *, sampling: Sampling, schema: dict[str, object] | None = None, show: bool = True
    ) -> str: ...

    def input_budget(self, sampling: Sampling) -> int: ...

    def count(self, messages: Messages) -> int: ...

    def has_documents(self) -> bool: ...

    def documents(self) -> str: ...

    def images(self) -> tuple[Image, ...]:
        """The attached images; refuses them (``InputError``) for a model that sees none."""
        ...

    def converse(self, *, system: str, text: str, sampling: Sampling) -> str: ...

    def models_listing(self) -> str: ...

    def continue_cut(self) -> str: ...


class Desk(Protocol):
    """What an immediate action may use inside the router (Redis at most)."""

    def model_names(self) -> list[str]: ...

    def forget(self, scope: str) -> None: ...

    def choose_model(self, scope: str, name: str) -> None: ...

    def model_permitted(self, message: InboundMessage, name: str) -> bool: ...

    def persona(self, message: InboundMessage) -> str | None: ...

    def set_persona(self, message: InboundMessage, text: str | None) -> None: ...

    def usage_text(self, message: InboundMessage) -> str: ...

    def stop_latest(self, message: InboundMessage) -> str: ...


# An answer the router gives at once: (desk, message, arguments) -> the reply text.
Action = Callable[[Desk, InboundMessage, Mapping[str, str]], str]


@dataclass(frozen=True, kw_only=True)
class CommandSpec:
    name: str
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()
    # Words that, first in a mention or a DM, mean this command ("tldr ..." on Slack).
    words: tuple[str, ...] = ()
    recipe: Recipe | None = None  # model work on a worker...
    action: Action | None = None  # ...or an answer the router gives at once
    reads_files: bool = False  # attached files are this command's input
    turn_files: bool = False  # attached documents join the turn's text (a chat message with a file)
    images: bool = False  # attached images go to a model that sees them; any other refuses them
    # Surrounding text this command may read when the line names none: "thread" (Slack),
    # "reply" (the replied-to message), "channel" (recent history).
    contexts: frozenset[str] = field(default_factory=frozenset)
    document_arg: str | None = None  # the argument that is itself a document to read
    menu: bool = True  # listed in the platforms' command menus
    own_slash_command: bool = True  # Slack: its own /command (else under the umbrella command)
    # When only the platform's admins (core/policy.py) may run it: (message, args) -> True.
    admin: Callable[[InboundMessage, Mapping[str, str]], bool] | None = None

    @property
    def takes_files(self) -> bool:
        """Attached files reach this command's jobs in one way or another."""
        return self.reads_files or self.turn_files or self.images

    def positional(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.positional)

    def usage_key(self) -> str:
        return f"usage.{self.name}"
