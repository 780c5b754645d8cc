"""Slack end to end: signed HTTP requests -> adapter -> Redis -> a real Celery worker ->
the fake TGI server -> answers streamed into the fake Slack Web API."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import time
from typing import Any

import pytest

from core.panel import STOP, decode
from fakes.slack_api import BOT_TOKEN, FakeSlackAPI, Message
from tests.conftest import wait_until
from tests.integration.slack_support import (  # noqa: F401  (fixtures)
    SlackHttp,
    mention,
    slack_api,
    slack_http,
    slack_server,
)

pytestmark = pytest.mark.integration

ANSWER_TIMEOUT = 40.0


@pytest.fixture
def stack(slack_http: SlackHttp, worker: Any, tgi: Any) -> SlackHttp:
    tgi.reset()
    return slack_http


def channel() -> str:
    """A channel of its own per test, so a late answer can't land in another test's view."""
    return f"C{time.time_ns()}"


def is_stop_control(message: Message) -> bool:
    """The small Stop message under a growing Slack stream: removed once the answer lands."""
    return [decode(b["action_id"])[0] for b in message.buttons()] == [STOP]  # type: ignore[index]


def final_replies(api: FakeSlackAPI, channel_id: str, thread_ts: str, count: int = 1) -> list[Message]:
    def done() -> list[Message] | None:
        replies = [m for m in api.thread(channel_id, thread_ts) if not is_stop_control(m)]
        finished = [m for m in replies if not m.streaming]
        return replies if len(finished) >= count and len(replies) == len(finished) else None

    return list(wait_until(done, timeout=ANSWER_TIMEOUT))


def test_a_command_is_acked_in_time_with_a_slow_model_and_answered_in_a_thread(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    # The whole answer takes longer than Slack's 3-second window (each gap stays under the
    # worker's inter-token timeout, so it is slow, not stalled).
    answer_text = "Coffee came from Ethiopia and spread through Yemen to the rest of the world."
    tgi.set_delays(first_token=1.0, between_tokens=0.3)
    tgi.script(answer_text)
    c = channel()
    status, _, seconds = stack.command("/essay", "The history of coffee", channel=c,
                                       response_url=slack_api.response_url_for("e1"))
    assert status == 200 and seconds < 3.0
    header = wait_until(lambda: [m for m in slack_api.bot_messages(c) if m.thread_ts is None], timeout=10)[0]
    assert "/essay The history of coffee" in header.text and "<@U1>" in header.text
    (answer,) = final_replies(slack_api, c, header.ts)
    assert answer.text == answer_text
    assert slack_api.count("chat.startStream", channel=c) == 1 and slack_api.count("chat.stopStream", channel=c) == 1


def test_a_dm_is_answered_in_the_dm(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    tgi.script("Hello Ana!")
    d = f"D{time.time_ns()}"
    event = {"type": "message", "channel_type": "im", "channel": d, "user": "U1", "text": "hi there", "ts": "5.1"}
    assert stack.event(event)[0] == 200
    answer = wait_until(lambda: [m for m in slack_api.bot_messages(d) if m.text == "Hello Ana!"],
                        timeout=ANSWER_TIMEOUT)
    assert answer[0].thread_ts is None


def test_without_membership_the_answer_uses_response_url(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    c = channel()
    slack_api.not_member.add(c)
    tgi.script("**Bold** answer")
    url = slack_api.response_url_for("nm")
    assert stack.command("/chat", "hello", channel=c, response_url=url)[0] == 200
    (posted,) = wait_until(lambda: slack_api.responses, timeout=ANSWER_TIMEOUT)
    assert posted["text"] == "*Bold* answer" and posted["response_type"] == "in_channel"
    assert slack_api.bot_messages(c) == []


def test_a_thread_summary_reads_the_thread(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    c = channel()
    root = slack_api.add_message(c, "Shall we move the launch to Friday?", user="U1")
    slack_api.add_message(c, "Only if the migration is done by Thursday.", user="U2", thread_ts=root)
    request = slack_api.add_message(c, "<@UBOT0001> summarize", user="U1", thread_ts=root)
    tgi.script("They will launch on Friday if the migration is done.")
    assert stack.event(mention("summarize", ts=request, channel=c, thread_ts=root))[0] == 200
    replies = final_replies(slack_api, c, root, count=3)
    assert replies[-1].text == "They will launch on Friday if the migration is done."
    assert slack_api.calls_to("conversations.replies")[0].params["ts"] == root
    assert any("Bruno: Only if the migration is done by Thursday." in p for p in tgi.prompts())


def test_ask_in_a_thread_answers_from_the_thread(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    c = channel()
    root = slack_api.add_message(c, "Shall we move the launch to Friday?", user="U1")
    slack_api.add_message(c, "Only if the migration is done by Thursday.", user="U2", thread_ts=root)
    request = slack_api.add_message(c, "<@UBOT0001> ask what does the launch depend on?", user="U1", thread_ts=root)
    tgi.script("On the migration being done by Thursday (Bruno).")
    assert stack.event(mention("ask what does the launch depend on?", ts=request, channel=c, thread_ts=root))[0] == 200
    replies = final_replies(slack_api, c, root, count=3)
    assert replies[-1].text == "On the migration being done by Thursday (Bruno)."
    prompt = tgi.prompts()[-1]
    assert "Question: what does the launch depend on?" in prompt
    assert "Bruno: Only if the migration is done by Thursday." in prompt


def test_a_file_summary_reads_the_file(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    c = channel()
    info = slack_api.add_file("F7", "minutes.txt", b"The board approved the new budget for the library.")
    tgi.script("The budget was approved.")
    assert stack.event(mention("summarize", ts="7.1", channel=c, files=[info]))[0] == 200
    (answer,) = final_replies(slack_api, c, "7.1")
    assert answer.text == "The budget was approved."
    (download,) = slack_api.calls_to("files.download")
    assert download.token == BOT_TOKEN
    assert any("approved the new budget for the library" in p for p in tgi.prompts())


def test_a_mention_in_a_thread_remembers_that_thread_only(stack: SlackHttp, slack_api: FakeSlackAPI,
                                                          tgi: Any) -> None:
    c = channel()
    tgi.script("Nice to meet you, Zoltan.", "Your name is Zoltan.", "I don't know your name.")
    stack.event(mention("my name is Zoltan", ts="8.1", channel=c))
    final_replies(slack_api, c, "8.1")
    stack.event(mention("what is my name?", ts="8.2", channel=c, thread_ts="8.1"))
    final_replies(slack_api, c, "8.1", count=2)
    stack.event(mention("what is my name?", ts="9.1", channel=c))
    final_replies(slack_api, c, "9.1")
    prompts = tgi.prompts()
    assert len(prompts) == 3
    assert "Zoltan" in prompts[1]  # the same thread remembers
    assert "Zoltan" not in prompts[2]  # another thread does not


def test_the_message_shortcut_summarises_the_thread(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    c = channel()
    root = slack_api.add_message(c, "The printer on floor 2 is broken again.", user="U2")
    reply = slack_api.add_message(c, "I called the technician.", user="U1", thread_ts=root)
    tgi.script("The printer is broken; a technician was called.")
    payload = {"type": "message_action", "callback_id": "summarize_thread", "trigger_id": "t1",
               "team": {"id": "T0TEST", "domain": "test"}, "user": {"id": "U1", "username": "ana"},
               "channel": {"id": c, "name": "general"}, "message_ts": reply,
               "message": {"type": "message", "user": "U1", "ts": reply, "thread_ts": root, "text": "x"},
               "response_url": slack_api.response_url_for("sc")}
    status, _, seconds = stack.shortcut(payload)
    assert status == 200 and seconds < 3.0
    replies = final_replies(slack_api, c, root, count=2)
    assert replies[-1].text == "The printer is broken; a technician was called."
    assert any("Bruno: The printer on floor 2 is broken again." in p for p in tgi.prompts())


def test_summarize_without_text_reads_the_channel(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    c = channel()
    slack_api.add_message(c, "Lunch is at noon today.", user="U2", ts=f"{time.time() - 60:.6f}")
    tgi.script("Lunch at noon.")
    assert stack.command("/summarize", "", channel=c, response_url=slack_api.response_url_for("s"))[0] == 200
    header = wait_until(lambda: [m for m in slack_api.bot_messages(c) if m.thread_ts is None], timeout=10)[0]
    (answer,) = final_replies(slack_api, c, header.ts)
    assert answer.text == "Lunch at noon."
    assert slack_api.calls_to("conversations.history")[0].params["channel"] == c
    assert any("Bruno: Lunch is at noon today." in p for p in tgi.prompts())


def test_a_429_mid_stream_delays_the_stream_and_the_text_lands_complete(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    c = channel()
    text = " ".join(f"word{i}" for i in range(150))
    tgi.script(text)
    tgi.set_delays(between_tokens=0.02)
    slack_api.fail_nth("chat.appendStream", 2, retry_after=1)
    stack.event(mention("talk to me", ts="10.1", channel=c))
    (answer,) = final_replies(slack_api, c, "10.1")
    assert answer.text == text
    calls = [call for call in slack_api.calls if call.method.startswith("chat.") and call.params.get("channel") == c]
    limited = [i for i, call in enumerate(calls) if call.method == "chat.appendStream"][1]
    assert calls[limited + 1].at - calls[limited].at >= 0.9  # the stream waited out Retry-After


def test_a_10000_character_answer_arrives_whole_in_order_with_code_blocks(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any, services: Any
) -> None:
    if "tgi-long" not in services.registry.names():
        pytest.fail("tests/data/models.toml needs the [models.tgi-long] entry (max_new_tokens = 4000)")
    tgi.set_limits(max_total_tokens=16_384)
    c = channel()
    blocks = []
    for n in range(1, 40):
        blocks.append(f"Step {n} explains the function.\n\n```python\ndef f{n}(x):\n    return x*{n}+1\n```\n")
    text = "\n".join(blocks)
    text = (text + "\n" + "Closing words. " * 700)[:10_000]
    tgi.script(text)
    # The model choice belongs to a conversation scope: this thread.
    stack.event(mention("/model tgi-long", ts="11.1", channel=c))
    (chosen,) = final_replies(slack_api, c, "11.1")
    assert "tgi-long" in chosen.text
    stack.event(mention("write the long one", ts="11.2", channel=c, thread_ts="11.1"))
    replies = final_replies(slack_api, c, "11.1", count=2)[1:]
    assert "".join(m.text for m in replies) == text
    assert slack_api.count("chat.startStream", channel=c) == 1  # streamed, in one message


def test_a_new_assistant_thread_gets_suggested_prompts(stack: SlackHttp, slack_api: FakeSlackAPI) -> None:
    d = f"D{time.time_ns()}"
    started = {"type": "assistant_thread_started", "event_ts": "12.0",
               "assistant_thread": {"user_id": "U1", "channel_id": d, "thread_ts": "12.0",
                                    "context": {"channel_id": "C1", "team_id": "T0TEST"}}}
    assert stack.event(started)[0] == 200
    (prompts,) = wait_until(lambda: slack_api.calls_to("assistant.threads.setSuggestedPrompts"), timeout=10)
    assert prompts.params["thread_ts"] == "12.0" and len(prompts.params["prompts"]) == 3
    assert all(p["title"] and p["message"] for p in prompts.params["prompts"])


def test_an_assistant_thread_shows_a_status_then_streams_the_answer(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    d = f"D{time.time_ns()}"
    tgi.script("Thought about it.")
    event = {"type": "message", "channel_type": "im", "channel": d, "user": "U1", "text": "think", "ts": "12.5",
             "thread_ts": "12.0"}
    assert stack.event(event)[0] == 200
    (answer,) = final_replies(slack_api, d, "12.0")
    assert answer.text == "Thought about it."
    (status,) = slack_api.calls_to("assistant.threads.setStatus")
    assert status.params["status"] == "Working on it..." and status.params["thread_ts"] == "12.0"
    assert slack_api.count("chat.startStream", channel=d) == 1
