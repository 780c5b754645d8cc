"""Conversation scope: the unit of memory, model choice and serialisation."""

from __future__ import annotations

from core.messages import InboundMessage


def scope_key(message: InboundMessage) -> str:
    """platform + workspace + channel + thread; a DM belongs to its user alone, so that a
    DM channel id that a platform happens to reuse never mixes two people's memories. A
    thread in a DM (Slack's assistant threads) is a conversation of its own."""
    if message.is_dm:
        own = f"{message.platform}:{message.workspace}:dm:{message.user}"
        return f"{own}:{message.thread}" if message.thread else own
    thread = message.thread or "-"
    return f"{message.platform}:{message.workspace}:{message.channel}:{thread}"
