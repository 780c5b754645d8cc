"""Channel threads the bot is part of, and reading one back as the model's history.

The bot joins a thread when it answers a mention there; from then on every reply in that
thread is answered without a mention (``message.channels`` / ``message.groups`` events),
until the thread has been quiet for ``FOLLOW_TTL_SECONDS``. The join's timestamp is kept,
so the model reads the thread from there on: what people said before they called the bot
in is theirs (``/summarize`` and ``/ask`` read it on request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from core.ports import KeyValue, ThreadPost

NAMESPACE = "slack-followed"
FOLLOW_TTL_SECONDS = 7 * 24 * 3600  # refreshed by every answer in the thread
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


class FollowedThreads:
    """``channel:thread_ts`` -> the ts of the message the bot joined at (shared in Redis
    by every adapter process and the workers)."""

    def __init__(self, *, memory: KeyValue) -> None:
        self._memory = memory

    def joined_at(self, channel: str, thread_ts: str) -> str | None:
        return self._memory.get(f"{channel}:{thread_ts}")

    def follow(self, channel: str, thread_ts: str, ts: str) -> None:
        """Joins at ``ts`` unless already in; either way the thread stays followed for
        another ``FOLLOW_TTL_SECONDS``."""
        self._memory.set(f"{channel}:{thread_ts}", self.joined_at(channel, thread_ts) or ts)


def _ts(raw: object) -> Decimal:
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def thread_posts(
    messages: Iterable[dict[str, Any]],
    *,
    since: str,
    before: str,
    bot_user_id: str,
    bot_id: str,
    name: Callable[[str], str],
) -> tuple[ThreadPost, ...]:
    """conversations.replies messages with ``since <= ts < before``, oldest first, as posts:
    each person by display name, the bot's answers as its own; mentions read as ``@name``
    (the bot's own mention is dropped: it only called the bot)."""
    low, high = _ts(since), _ts(before)
    found = [m for m in messages if low <= _ts(m.get("ts")) < high]

    def readable(text: str) -> str:
        return _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else f"@{name(m.group(1))}", text).strip()

    posts = []
    for message in sorted(found, key=lambda m: _ts(m.get("ts"))):
        if message.get("subtype") not in (None, "", "file_share", "thread_broadcast", "bot_message"):
            continue  # joins, topic changes, deletions: not conversation
        text = readable(str(message.get("text") or ""))
        if not text:
            continue
        user = str(message.get("user") or "")
        if (bot_user_id and user == bot_user_id) or (bot_id and message.get("bot_id") == bot_id):
            posts.append(ThreadPost(author="", text=text, by_bot=True))
        elif user and not message.get("bot_id"):
            posts.append(ThreadPost(author=name(user), text=text))
        else:  # another app's post
            author = str(message.get("username") or (message.get("bot_profile") or {}).get("name") or "bot")
            posts.append(ThreadPost(author=author, text=text))
    return tuple(posts)
