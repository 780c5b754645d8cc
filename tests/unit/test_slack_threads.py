"""A followed Slack thread read back as posts: since the bot joined, before the job's
message, people by display name, the bot's answers as its own, mentions readable."""

from __future__ import annotations

from bots.slack.threads import thread_posts
from core.ports import ThreadPost

BOT, BOT_ID = "UBOT0001", "BBOT0001"
NAMES = {"U1": "Ana", "U2": "Bruno"}


def posts(messages: list[dict[str, object]], *, since: str = "10.0", before: str = "20.0") -> tuple[ThreadPost, ...]:
    return thread_posts(messages, since=since, before=before, bot_user_id=BOT, bot_id=BOT_ID,
                        name=lambda user: NAMES.get(user, user))


def test_the_thread_since_the_join_and_before_the_question() -> None:
    found = posts([
        {"type": "message", "ts": "9.0", "user": "U2", "text": "before the bot was called"},
        {"type": "message", "ts": "10.0", "user": "U1", "text": f"<@{BOT}> when do we ship?"},
        {"type": "message", "ts": "11.0", "user": BOT, "bot_id": BOT_ID, "text": "On Friday."},
        {"type": "message", "ts": "12.0", "user": "U2", "text": "<@U1> only after the migration"},
        {"type": "message", "ts": "12.5", "subtype": "channel_join", "user": "U3", "text": "<@U3> has joined"},
        {"type": "message", "ts": "13.0", "bot_id": "BOTHER", "username": "CI", "text": "build green"},
        {"type": "message", "ts": "20.0", "user": "U1", "text": "the question itself"},
        {"type": "message", "ts": "21.0", "user": "U2", "text": "written while the job waited"},
    ])
    assert found == (
        ThreadPost(author="Ana", text="when do we ship?"),
        ThreadPost(author="", text="On Friday.", by_bot=True),
        ThreadPost(author="Bruno", text="@Ana only after the migration"),
        ThreadPost(author="CI", text="build green"),
    )


def test_timestamps_compare_as_numbers_not_strings() -> None:
    found = posts([{"type": "message", "ts": "9.9", "user": "U1", "text": "old"},
                   {"type": "message", "ts": "10.10", "user": "U1", "text": "new"}], since="10.05")
    assert [p.text for p in found] == ["new"]
