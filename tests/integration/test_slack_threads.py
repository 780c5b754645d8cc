"""Slack threads as conversations: once the bot has answered a mention in a thread, every
later reply there is answered without one, and the model reads the thread since the bot
joined, each message with its author. Chatter elsewhere stays unanswered.

Each person's message is written into the fake Slack workspace and delivered to the real
adapter as the events Slack sends for it: ``message.channels`` for every message in a
channel the bot is in, and ``app_mention`` as well when it mentions the bot."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import time
from typing import Any

import pytest

from fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackAPI, Message
from tests.conftest import wait_until
from tests.integration.slack_support import (  # noqa: F401  (fixtures)
    SlackHttp,
    job_ids,
    new_jobs,
    slack_api,
    slack_http,
    slack_server,
)

pytestmark = pytest.mark.integration

ANSWER_TIMEOUT = 40.0


@pytest.fixture
def stack(slack_http: SlackHttp, slack_api: FakeSlackAPI, worker: Any, tgi: Any) -> SlackHttp:
    tgi.reset()
    slack_api.add_user("U3", name="Carla", locale="en-US")
    return slack_http


def channel() -> str:
    return f"C{time.time_ns()}"


def writes(stack: SlackHttp, api: FakeSlackAPI, where: str, text: str, *, user: str, thread_ts: str | None = None,
           mentions: bool = False) -> str:
    """A person posts in a channel; Slack stores it and sends the bot its events."""
    text = f"<@{BOT_USER_ID}> {text}" if mentions else text
    ts = api.add_message(where, text, user=user, thread_ts=thread_ts)
    base: dict[str, Any] = {"user": user, "text": text, "ts": ts, "channel": where, "event_ts": ts, "team": TEAM_ID}
    if thread_ts:
        base["thread_ts"] = thread_ts
    if mentions:
        assert stack.event({"type": "app_mention", **base})[0] == 200
    assert stack.event({"type": "message", "channel_type": "channel", **base})[0] == 200
    return ts


def answers(api: FakeSlackAPI, where: str, thread_ts: str, count: int) -> list[Message]:
    """The bot's finished answers in a thread, once there are ``count`` of them."""
    def done() -> list[Message] | None:
        mine = [m for m in api.thread(where, thread_ts) if m.bot_id]
        return mine if len(mine) >= count and not any(m.streaming for m in mine) else None

    return list(wait_until(done, timeout=ANSWER_TIMEOUT))


def test_a_thread_is_one_conversation_of_everyone_in_it_without_mentions(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any, services: Any
) -> None:
    c = channel()
    before = job_ids(services)
    slack_api.add_message(c, "Lunch plans, anyone?", user="U2")  # before the bot was called: not its business
    tgi.script("Friday works if the migration is done.", "Then Monday.", "Tuesday is fine too.", "Carla's plan works.")

    root = writes(stack, slack_api, c, "Shall we ship on Friday?", user="U1", mentions=True)
    assert answers(slack_api, c, root, 1)[-1].text == "Friday works if the migration is done."

    writes(stack, slack_api, c, "The migration needs two more days.", user="U2", thread_ts=root)
    assert answers(slack_api, c, root, 2)[-1].text == "Then Monday."

    writes(stack, slack_api, c, "Could we make it Tuesday instead?", user="U1", thread_ts=root)
    assert answers(slack_api, c, root, 3)[-1].text == "Tuesday is fine too."

    writes(stack, slack_api, c, "I can run the migration over the weekend.", user="U3", thread_ts=root)
    assert answers(slack_api, c, root, 4)[-1].text == "Carla's plan works."

    # Three replies without a mention, each answered once; the mention (two events) once too.
    assert [job.kind for job in new_jobs(services, before)] == ["chat"] * 4
    assert len([m for m in slack_api.thread(c, root) if m.bot_id]) == 4
    prompt = tgi.prompts()[-1]
    for line in ("Ana: Shall we ship on Friday?", "Friday works if the migration is done.",
                 "Bruno: The migration needs two more days.", "Then Monday.",
                 "Ana: Could we make it Tuesday instead?", "Carla: I can run the migration over the weekend."):
        assert line in prompt, f"{line!r} missing from the model's prompt:\n{prompt}"
    assert "Lunch plans" not in prompt
    # Read from the bot's join on: conversations.replies with oldest = the mention.
    reads = [call for call in slack_api.calls_to("conversations.replies") if call.params.get("channel") == c]
    assert reads and all(call.params["oldest"] == root for call in reads)


def test_chatter_in_a_thread_the_bot_is_not_part_of_is_not_answered(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any, services: Any
) -> None:
    c = channel()
    before = job_ids(services)
    root = writes(stack, slack_api, c, "Who is bringing the cake?", user="U1")
    writes(stack, slack_api, c, "I will, chocolate.", user="U2", thread_ts=root)
    writes(stack, slack_api, c, "Great, see you at four.", user="U1", thread_ts=root)
    # A mention elsewhere in the channel is answered: by then the chatter had its chance.
    tgi.script("Hello Carla.")
    other = writes(stack, slack_api, c, "hello", user="U3", mentions=True)
    assert answers(slack_api, c, other, 1)[-1].text == "Hello Carla."
    assert [job.message.message_id for job in new_jobs(services, before)] == [other]
    assert [m for m in slack_api.thread(c, root) if m.bot_id] == []
    assert len(tgi.generation_requests()) == 1


def test_each_assistant_thread_is_its_own_conversation(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    d = f"D{time.time_ns()}"

    def asks(text: str, thread_ts: str, answers_so_far: int) -> str:
        ts = slack_api.add_message(d, text, user="U1", thread_ts=thread_ts)
        event = {"type": "message", "channel_type": "im", "channel": d, "user": "U1", "text": text, "ts": ts,
                 "thread_ts": thread_ts, "event_ts": ts}
        assert stack.event(event)[0] == 200
        answers(slack_api, d, thread_ts, answers_so_far + 1)
        return tgi.prompts()[-1]

    # Two threads of the assistant pane, opened by the same person.
    first = slack_api.add_message(d, "Hi, how can I help?", user=BOT_USER_ID)
    second = slack_api.add_message(d, "Hi, how can I help?", user=BOT_USER_ID)
    asks("My name is Zoltan and I keep bees.", first, 0)
    assert "Zoltan" not in asks("What is my name?", second, 0)
    assert "Zoltan" in asks("What is my name?", first, 1)
