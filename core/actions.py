"""Answers the router gives at once, without a worker: help, reset, the model choice."""

from __future__ import annotations

from collections.abc import Mapping

from core import catalogue
from core.guard import MAX_PERSONA_CHARS
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
    if not desk.model_permitted(message, wanted):
        return catalogue.text("model_forbidden", message.locale, model=wanted)
    desk.choose_model(scope_key(message), wanted)
    return catalogue.text("model_set", message.locale, model=wanted)


def persona(desk: Desk, message: InboundMessage, args: Mapping[str, str]) -> str:
    """/persona shows this channel's system text, /persona <text> sets it, /persona reset clears it."""
    text = args.get("text", "").strip()
    if not text:
        current = desk.persona(message)
        if current is None:
            return catalogue.text("persona_none", message.locale)
        return catalogue.text("persona_current", message.locale, persona=current)
    if text.lower() == "reset":
        desk.set_persona(message, None)
        return catalogue.text("persona_cleared", message.locale)
    if len(text) > MAX_PERSONA_CHARS:
        return catalogue.text("persona_too_long", message.locale, limit=MAX_PERSONA_CHARS, length=len(text))
    desk.set_persona(message, text)
    return catalogue.text("persona_set", message.locale)


def usage(desk: Desk, message: InboundMessage, args: Mapping[str, str]) -> str:
    return desk.usage_text(message)


def stop(desk: Desk, message: InboundMessage, args: Mapping[str, str]) -> str:
    """/stop: ends the generation of the user's newest answer here (the text so far stays)."""
    return desk.stop_latest(message)


def changes_persona(message: InboundMessage, args: Mapping[str, str]) -> bool:
    return bool(args.get("text", "").strip())


def shared_memory(message: InboundMessage, args: Mapping[str, str]) -> bool:
    """A DM's memory is its user's own; a channel's or group's is everyone's there."""
    return not message.is_dm


def always(message: InboundMessage, args: Mapping[str, str]) -> bool:
    return True
