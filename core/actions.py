"""Answers the router gives at once, without a worker: help, reset, the model choice."""

from __future__ import annotations

from collections.abc import Mapping

from core import catalogue
from core.messages import InboundMessage
from core.scope import scope_key
from core.specs import CommandSpec, Desk


def help_text(specs: tuple[CommandSpec, ...], locale: str | None) -> str:
    """/help, from the table: one line per command that has a ``help.<name>`` text."""
    lines = [catalogue.text("help_header", locale)]
    lines += [catalogue.text(f"help.{s.name}", locale) for s in specs if catalogue.has(f"help.{s.name}")]
    return "\n".join(lines)


def reset(desk: Desk, message: InboundMessage, args: Mapping[str, str]) -> str:
    desk.forget(scope_key(message))
    return catalogue.text("reset_done", message.locale)


def choose_model(desk: Desk, message: InboundMessage, args: Mapping[str, str]) -> str:
    names = desk.model_names()
    listing = ", ".join(names)
    wanted = args["name"]
    if wanted not in names:
        return catalogue.text("model_unknown", message.locale, model=wanted, models=listing)
    desk.choose_model(scope_key(message), wanted)
    return catalogue.text("model_set", message.locale, model=wanted)
