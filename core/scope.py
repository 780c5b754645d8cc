"""Conversation scope: the unit of memory, model choice and serialisation."""

from __future__ import annotations

from core.messages import InboundMessage


def scope_key(message: InboundMessage) -> str:
    """platform + workspace + channel + thread; a DM belongs to its user alone, so that a
    DM channel id that a platform happens to reuse never mixes two people's memories."""
    if message.is_dm:
        return f"{message.platform}:{message.workspace}:dm:{message.user}"
    thread = message.thread or "-"
    return f"{message.platform}:{message.workspace}:{message.channel}:{thread}"
