"""Reply chains: the conversation scope of mentions in guild channels.

A busy channel holds many conversations at once, so the channel cannot be the scope. A
mention that replies to nothing starts a conversation whose id is that message's id; a
message that replies to any message of a conversation (the user's or the bot's) continues
it. Each message we see or send is mapped to its conversation's root in a shared memory,
so the lookup is one read whatever the chain's length, and works for every piece of a
long answer.
"""

from __future__ import annotations

from core.ports import KeyValue

NAMESPACE = "discord-chain"
CHAIN_TTL_SECONDS = 7 * 24 * 3600  # longer than the context TTL: a root outlives its memory


class ReplyChains:
    def __init__(self, *, memory: KeyValue) -> None:
        self._memory = memory

    def root_of(self, message_id: str) -> str:
        """The conversation a reply to ``message_id`` belongs to; a message that is in no
        known conversation roots a new one."""
        return self._memory.get(message_id) or message_id

    def remember(self, message_id: str, root: str) -> None:
        self._memory.set(message_id, root)
