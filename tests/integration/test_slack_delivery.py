"""The Slack delivery (worker side) against the fake Slack Web API, driven by the core's
StreamingReply with the Redis-held budget, as the runner drives it."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import time
from typing import Any

import pytest

from bots.slack.address import SlackAddress
from bots.slack.config import SlackConfig
from bots.slack.delivery import THREADS_NAMESPACE, SlackDelivery
from bots.slack.limits import MAX_CHARS
from core.delivery import StreamingReply
from core.errors import Forbidden, InputError
from core.jobs import Job
from core.messages import Attachment, InboundMessage
from core.scope import scope_key
from fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.integration.slack_support import slack_api, slack_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def delivery(services: Any, base: SlackConfig, **config: Any) -> SlackDelivery:
    from bots.slack.api import make_client

    slack = base.model_copy(update=config)
    return SlackDelivery(client=make_client(slack), config=slack, threads=services.memory(THREADS_NAMESPACE, 3600))


def job(*, channel: str = "C1", reply: SlackAddress | None = None, is_dm: bool = False, thread: str | None = None,
        args: dict[str, str] | None = None, message_id: str | None = None) -> Job:
    message = InboundMessage(platform="slack", workspace=f"{TEAM_ID}-{time.time_ns()}", channel=channel, user="U1",
                             text="/chat hi", is_dm=is_dm, thread=thread, address=reply or SlackAddress(),
                             message_id=message_id)
    return Job(kind="chat", message=message, scope=scope_key(message), args=args or {})


def stream(services: Any, slack: SlackDelivery, the_job: Job, text: str, *, step: int = 400,
           refs: list[str] | None = None) -> StreamingReply:
    responder = slack.responder(the_job)
    reply = StreamingReply(responder=responder, budget=services.budget,
                           budget_key=f"slack:{responder.destination}", refs=refs)
    reply.start()
    for end in range(step, len(text), step):
        reply.feed(text[:end])
    reply.finish(text)
    reply.close()
    return reply


def long_answer(size: int) -> str:
    parts, n = [], 0
    while sum(map(len, parts)) < size:
        n += 1
        parts.append(f"## Part {n}\n\nSome **prose** for part {n}, explaining the code below in detail.\n\n"
                     f"```python\ndef part_{n}(x):\n    # keep *this* and **that** literal\n"
                     + "".join(f"    x = x * {i} + {n}  # step {i}\n" for i in range(12)) + "    return x\n```\n\n")
    return "".join(parts)[:size].rstrip() + "\n\nThe end."


def test_streams_natively_into_the_thread_and_lands_whole(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    text = long_answer(10_000)
    assert len(text) > 9_900
    the_job = job(reply=SlackAddress(thread_ts="1000.0001"))
    stream(services, delivery(services, slack_config), the_job, text, step=300)
    (answer,) = slack_api.thread("C1", "1000.0001")
    assert answer.text == text and not answer.streaming  # whole, in order, code blocks intact, stream closed
    assert slack_api.count("chat.startStream") == 1 and slack_api.count("chat.stopStream") == 1
    assert slack_api.count("chat.postMessage") == 0 and slack_api.count("chat.update") == 0
    start = slack_api.calls_to("chat.startStream")[0].params
    assert (start["recipient_user_id"], start["thread_ts"]) == ("U1", "1000.0001")
    assert "application/json" in slack_api.calls_to("chat.startStream")[0].content_type


def test_an_answer_longer_than_a_message_splits_without_breaking_code(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    text = long_answer(25_000)
    stream(services, delivery(services, slack_config), job(reply=SlackAddress(thread_ts="1000.0002")), text, step=1500)
    pieces = [m.text for m in slack_api.thread("C1", "1000.0002")]
    assert len(pieces) == 3 and all(len(p) <= MAX_CHARS for p in pieces)
    for piece in pieces:
        assert piece.count("```") % 2 == 0  # every piece opens and closes its own fences
    joined = "".join(pieces)
    assert joined.replace("```", "").replace("python\n", "").replace("\n", "") == \
        text.replace("```", "").replace("python\n", "").replace("\n", "")


def test_slash_command_answer_goes_under_a_header_naming_command_and_user(slack_config: SlackConfig,
    services: Any, slack_api: FakeSlackAPI
) -> None:
    the_job = job(reply=SlackAddress(command="/essay The sea", response_url="x"))
    stream(services, delivery(services, slack_config), the_job, "An essay about the sea.")
    (header,) = [m for m in slack_api.bot_messages("C1") if m.thread_ts is None]
    assert "/essay The sea" in header.text and "<@U1>" in header.text
    (answer,) = slack_api.thread("C1", header.ts)
    assert answer.text == "An essay about the sea."


def test_a_retried_job_keeps_its_header_and_message(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    slack = delivery(services, slack_config)
    the_job = job(reply=SlackAddress(command="/chat hi", response_url="x"))
    responder = slack.responder(the_job)
    first = StreamingReply(responder=responder, budget=services.budget, budget_key=f"slack:{time.time_ns()}")
    first.start()
    first.feed("Partial answ")  # then the model failed: the task retries, with a new Responder
    second = stream(services, slack, the_job, "The full answer.", refs=first.refs)
    headers = [m for m in slack_api.bot_messages("C1") if m.thread_ts is None]
    assert len(headers) == 1
    (answer,) = slack_api.thread("C1", headers[0].ts)
    assert answer.text == "The full answer." and not answer.streaming
    assert second.refs == first.refs


def test_not_in_channel_answers_through_response_url(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    slack_api.not_member.add("C9")
    url = slack_api.response_url_for("1")
    the_job = job(channel="C9", reply=SlackAddress(command="/chat hi", response_url=url))
    stream(services, delivery(services, slack_config), the_job, "**Hello** there", step=5)
    (posted,) = slack_api.responses
    assert posted["text"] == "*Hello* there" and posted["response_type"] == "in_channel"
    assert slack_api.count("chat.startStream") == 0 and slack_api.count("chat.update") == 0


def test_refused_streaming_falls_back_to_post_and_update(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    slack_api.streaming_enabled = False
    text = "word " * 300
    stream(services, delivery(services, slack_config), job(reply=SlackAddress(thread_ts="1000.0003")), text, step=200)
    (answer,) = slack_api.thread("C1", "1000.0003")
    assert answer.text == text and slack_api.count("chat.postMessage") == 1


def test_a_top_level_dm_is_posted_and_edited(slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI) -> None:
    stream(services, delivery(services, slack_config), job(channel="D1", is_dm=True), "Hi! " * 50, step=40)
    (answer,) = slack_api.bot_messages("D1")
    assert answer.thread_ts is None and answer.text == "Hi! " * 50
    assert slack_api.count("chat.startStream") == 0


def test_a_429_mid_stream_is_waited_out_and_the_text_lands(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    slack_api.fail_nth("chat.appendStream", 1, retry_after=1)
    text = "token " * 400
    the_job = job(reply=SlackAddress(thread_ts="1000.0004"))
    responder = delivery(services, slack_config).responder(the_job)
    reply = StreamingReply(responder=responder, budget=services.budget, budget_key=f"slack:{responder.destination}")
    for end in range(60, len(text), 60):
        reply.feed(text[:end])
        time.sleep(0.02)
    reply.finish(text)
    (answer,) = slack_api.thread("C1", "1000.0004")
    assert answer.text == text and len(reply.rate_limit_waits) >= 1
    calls = [c for c in slack_api.calls if c.method.startswith("chat.")]
    limited = next(i for i, c in enumerate(calls) if c.method == "chat.appendStream")
    assert calls[limited + 1].at - calls[limited].at >= 0.9  # nobody sent before Retry-After passed


def test_thread_source_reads_the_thread_with_names(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    root = slack_api.add_message("C1", "Shall we ship on Friday?", user="U1")
    slack_api.add_message("C1", "Only if the tests pass.", user="U2", thread_ts=root)
    request = slack_api.add_message("C1", "<@UBOT0001> summarize", user="U1", thread_ts=root)
    slack_api.add_message("C2", "unrelated", user="U2")
    the_job = job(thread=root, args={"source": "thread"}, message_id=request)
    text = delivery(services, slack_config).read_source(the_job)
    assert text == "Ana: Shall we ship on Friday?\nBruno: Only if the tests pass."
    assert slack_api.calls_to("conversations.replies")[0].params["ts"] == root


def test_channel_source_reads_recent_history_oldest_first(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    for i in range(5):
        slack_api.add_message("C3", f"message {i}", user="U1", ts=f"{time.time() - 100 + i:.6f}")
    slack_api.add_message("C3", "too old", user="U1", ts=f"{time.time() - 7200:.6f}")
    text = delivery(services, slack_config, channel_window_messages=3, channel_window_hours=1).read_source(
        job(channel="C3", args={"source": "channel"}))
    assert text.splitlines() == ["Ana: message 2", "Ana: message 3", "Ana: message 4"]


def test_an_empty_source_says_nothing_to_summarize(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    with pytest.raises(InputError) as err:
        delivery(services, slack_config).read_source(job(channel="C4", args={"source": "channel"}))
    assert err.value.key == "nothing_to_summarize"


def test_fetch_file_uses_the_bot_token_within_the_limit(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    info = slack_api.add_file("F1", "notes.txt", b"x" * 5000)
    attachment = Attachment(name="notes.txt", size=info["size"], url=info["url_private"])
    assert delivery(services, slack_config).fetch_file(attachment, max_bytes=10_000) == b"x" * 5000
    assert slack_api.calls_to("files.download")[0].token == "xoxb-test-token"
    with pytest.raises(InputError) as err:
        delivery(services, slack_config).fetch_file(attachment, max_bytes=1000)
    assert err.value.key == "file_too_large"
    # The size in the event can lie: the download itself is cut at the limit.
    lying = Attachment(name="notes.txt", size=10, url=info["url_private"])
    with pytest.raises(InputError):
        delivery(services, slack_config).fetch_file(lying, max_bytes=1000)


def test_the_token_never_goes_to_another_host(
    slack_config: SlackConfig, services: Any, slack_api: FakeSlackAPI
) -> None:
    attachment = Attachment(name="a.txt", size=1, url="http://evil.example/a.txt")
    with pytest.raises(Forbidden):
        delivery(services, slack_config).fetch_file(attachment, max_bytes=1000)
