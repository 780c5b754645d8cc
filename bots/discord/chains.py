"""Reply chains: the conversation scope of mentions in guild channels.

A busy channel holds many conversations at once, so the channel cannot be the scope. A
mention that replies to nothing starts a conversation whose id is that message's id; a
message that replies to any message of a conversation (the user's or the bot's) continues
it. Each message we see or send is mapped to its conversation's root in Redis, so the
lookup is one GET whatever the chain's length, and works for every piece of a long answer.
"""

from __future__ import annotations

from typing import Protocol

CHAIN_TTL_SECONDS = 7 * 24 * 3600  # longer than the context TTL: a root outlives its memory


class _Redis(Protocol):
    def get(self, name: str) -> bytes | str | None: ...

    def set(self, name: str, value: str, ex: int | None = None) -> object: ...


class _Keys(Protocol):
    def __call__(self, *parts: str) -> str: ...


class ReplyChains:
    def __init__(self, *, redis: _Redis, keys: _Keys, ttl_seconds: int = CHAIN_TTL_SECONDS) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds

    def root_of(self, message_id: str) -> str:
        """The conversation a reply to ``message_id`` belongs to; a message that is in no
        known conversation roots a new one."""
        found = self._redis.get(self._keys("discord", "chain", message_id))
        if found is None:
            return message_id
        return found.decode() if isinstance(found, bytes) else str(found)

    def remember(self, message_id: str, root: str) -> None:
        self._redis.set(self._keys("discord", "chain", message_id), root, ex=self._ttl)
