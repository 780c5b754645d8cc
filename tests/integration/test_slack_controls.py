"""Stop, Regenerate and 👍 / 👎 on Slack: signed block_actions (HTTP mode) and Socket Mode
envelopes -> the adapter -> Redis -> a real Celery worker streaming from the fake TGI
server, whose stream the Stop closes."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client import REGISTRY

from bots.slack.app import SlackAdapter, run_socket_mode
from core import catalogue
from core.panel import decode
from core.policy import place_of
from fakes.slack_api import APP_TOKEN, TEAM_ID, FakeSlackAPI, Message
from fakes.slack_socket import FakeSlackSocket
from tertulia.bootstrap import build_router
from tests.conftest import wait_until
from tests.integration.slack_support import (  # noqa: F401  (fixtures)
    SlackHttp,
    followed_threads,
    job_ids,
    mention,
    new_jobs,
    serving_slack,
    slack_api,
    slack_server,
)

pytestmark = pytest.mark.integration

ANSWER_TIMEOUT = 40.0
LONG = " ".join(f"word{n}" for n in range(200))  # 200 tokens at 0.1 s: 20 s unless stopped
STOPPED = catalogue.text("answer_stopped", "en-US")


@pytest.fixture
def stack(services: Any, slack_api: FakeSlackAPI, slack_config: Any, worker: Any, tgi: Any) -> Iterator[SlackHttp]:
    tgi.reset()
    with serving_slack(services, slack_config, router=build_router(services)) as http:
        yield http


def channel() -> str:
    return f"C{time.time_ns()}"


def block_actions(action_id: str, *, user: str, channel_id: str, message_ts: str, response_url: str) -> dict[str, Any]:
    """A button click as Slack posts it to the interactivity request URL (payload=<json>)."""
    return {
        "type": "block_actions", "api_app_id": "A0TEST", "token": "legacy", "trigger_id": f"tr-{time.time_ns()}",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "team": {"id": TEAM_ID, "domain": "test"}, "channel": {"id": channel_id, "name": "general"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "message": {"type": "message", "ts": message_ts, "text": "..."}, "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "tertulia_controls", "type": "button",
                     "text": {"type": "plain_text", "text": "x"}, "action_ts": str(time.time())}],
    }  # fmt: skip


def click(stack: SlackHttp, button: dict[str, Any], message: Message, *, user: str, url: str) -> None:
    payload = block_actions(button["action_id"], user=user, channel_id=message.channel, message_ts=message.ts,
                            response_url=url)  # fmt: skip
    status, _, _ = stack.post(urlencode({"payload": json.dumps(payload)}),
                              content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert status == 200


def button(message: Message, kind: str) -> dict[str, Any]:
    found = [b for b in message.buttons() if (decode(b["action_id"]) or ("", ""))[0] == kind]
    assert found, f"no {kind} button on {message.blocks}"
    return found[0]


def ephemeral(api: FakeSlackAPI, name: str) -> str:
    found = wait_until(lambda: [r for r in api.responses if r["path"].endswith("/" + name)], timeout=10)
    assert found[0]["response_type"] == "ephemeral"
    return str(found[0]["text"])


def streaming_answer(api: FakeSlackAPI, c: str, thread: str) -> tuple[Message, Message]:
    """(the stream with some text, the Stop button's message) while the answer grows."""
    def ready() -> tuple[Message, Message] | None:
        replies = api.thread(c, thread)
        stream = [m for m in replies if m.streaming and m.text.strip()]
        stop = [m for m in replies if m.buttons()]
        return (stream[0], stop[0]) if stream and stop else None

    return wait_until(ready, timeout=ANSWER_TIMEOUT)


def final(api: FakeSlackAPI, c: str, ts: str, ending: str | None = None) -> Message:
    def done() -> Message | None:
        found = api.message(c, ts)
        ok = found is not None and not found.streaming and found.buttons()
        return found if ok and (ending is None or found.text.endswith(ending)) else None

    return wait_until(done, timeout=ANSWER_TIMEOUT)


def answered(api: FakeSlackAPI, c: str, thread: str) -> Message:
    """The thread's one final answer (not the Stop button's own message, which has a button too)."""
    def done() -> list[Message]:
        return [m for m in api.thread(c, thread) if not m.streaming and button_kinds(m)[:1] == ["regenerate"]]

    (found,) = wait_until(done, timeout=ANSWER_TIMEOUT)
    return found


def button_kinds(message: Message) -> list[str]:
    return [(decode(b["action_id"]) or ("", ""))[0] for b in message.buttons()]


def test_stop_mid_stream_closes_the_model_stream_and_keeps_the_text(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    tgi.set_delays(between_tokens=0.1)
    tgi.script(LONG)
    c = channel()
    stack.event(mention("write a lot", ts="10.1", channel=c))
    stream, stop = streaming_answer(slack_api, c, "10.1")
    assert [decode(b["action_id"])[0] for b in stop.buttons()] == ["stop"]  # type: ignore[index]
    click(stack, button(stop, "stop"), stop, user="U1", url=slack_api.response_url_for("stop1"))
    answer = final(slack_api, c, stream.ts, ending=STOPPED)
    # This answer's stream (LONG is 200 tokens): another stream may be cut on the same fake
    # meanwhile (a 4-token one was, when this file ran right after test_presets and test_private_redis).
    left = wait_until(lambda: next((d for d in tgi.disconnects if d.total == 200), None), timeout=10)
    assert left.sent < left.total  # the worker closed the stream: the model did not run to its end
    kept = answer.text.removesuffix(STOPPED).strip()
    assert kept and LONG.startswith(kept) and kept != LONG
    assert [decode(b["action_id"])[0] for b in answer.buttons()] == ["regenerate", "up", "down"]  # type: ignore[index]
    wait_until(lambda: slack_api.message(c, stop.ts) is None, timeout=10)  # the Stop button went


def test_someone_else_cannot_stop_an_answer(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    tgi.set_delays(between_tokens=0.05)
    text = " ".join(f"w{n}" for n in range(60))
    tgi.script(text)
    c = channel()
    stack.event(mention("write", ts="11.1", channel=c))
    stream, stop = streaming_answer(slack_api, c, "11.1")
    click(stack, button(stop, "stop"), stop, user="U2", url=slack_api.response_url_for("stop2"))
    assert ephemeral(slack_api, "stop2") == catalogue.text("control_not_yours.stop", "es-ES")
    assert final(slack_api, c, stream.ts).text == text
    assert not tgi.disconnects


def test_regenerate_replaces_the_answer_and_the_memory_keeps_one_turn(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any, services: Any
) -> None:
    tgi.script("First answer.", "Second answer.")
    c = channel()
    before = job_ids(services)
    stack.event(mention("tell me something", ts="12.1", channel=c))
    first = answered(slack_api, c, "12.1")
    assert first.text == "First answer."
    (job,) = new_jobs(services, before)
    click(stack, button(first, "regenerate"), first, user="U1", url=slack_api.response_url_for("regen"))
    again = wait_until(lambda: (m := slack_api.message(c, first.ts)) and m.text == "Second answer." and m.buttons()
                       and m, timeout=ANSWER_TIMEOUT)  # fmt: skip
    assert [m.ts for m in slack_api.thread(c, "12.1")] == [first.ts]  # replaced in place, no second message
    assert [decode(b["action_id"])[0] for b in again.buttons()] == ["regenerate", "up", "down"]  # type: ignore[index,union-attr]
    turns = wait_until(lambda: (h := services.context.history(job.scope)) and h[-1].content == "Second answer."
                       and h, timeout=10)  # fmt: skip
    assert [(t.role, t.content) for t in turns] == [("user", "tell me something"), ("assistant", "Second answer.")]
    # The regenerated request was the same prompt, without the answer it replaced.
    prompts = tgi.prompts()
    assert prompts[-1] == prompts[-2] and "First answer." not in prompts[-1]


def test_feedback_is_one_vote_per_user_per_answer(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any,
                                                  services: Any) -> None:
    tgi.script("Rate me.")
    c = channel()
    before = job_ids(services)
    stack.event(mention("something to rate", ts="13.1", channel=c))
    answer = answered(slack_api, c, "13.1")
    (job,) = new_jobs(services, before)
    model = services.controls.facts(job.id).model

    def counted() -> tuple[float, float, float]:  # the adapter process's Prometheus counters
        labels = {"model": model, "kind": "chat"}
        return tuple(REGISTRY.get_sample_value(name, {**labels, "vote": vote}) or 0.0 for name, vote in (  # type: ignore[return-value]
            ("tertulia_feedback_total", "up"), ("tertulia_feedback_total", "down"),
            ("tertulia_feedback_withdrawn_total", "up")))  # fmt: skip

    already = counted()
    for user, kind, name in (("U1", "up", "v1"), ("U1", "up", "v2"), ("U1", "down", "v3"), ("U2", "up", "v4")):
        click(stack, button(answer, kind), answer, user=user, url=slack_api.response_url_for(name))
        ephemeral(slack_api, name)
    totals = services.controls.feedback(place=place_of(job.message), at=time.time())
    assert list(totals) == [model]
    assert (totals[model].up, totals[model].down) == (1, 1)  # U1 changed their vote; U2 voted once
    # Prometheus: two new ups, one down, and U1's up withdrawn (net: one each).
    assert tuple(after - was for after, was in zip(counted(), already, strict=True)) == (2.0, 1.0, 1.0)
    votes = services.redis.hgetall(services.keys.job_control(job.id, "votes"))
    assert {k.decode(): v.decode().split("|")[0] for k, v in votes.items()} == {
        f"slack:{TEAM_ID}:U1": "down", f"slack:{TEAM_ID}:U2": "up"}
    facts = services.controls.facts(job.id)
    assert facts is not None and facts.command == "chat" and facts.model == model


def test_a_button_of_an_expired_job_answers_politely(stack: SlackHttp, slack_api: FakeSlackAPI) -> None:
    c = channel()
    gone = Message(channel=c, ts="14.1", text="old")
    click(stack, {"action_id": "tt:regenerate:" + "0" * 32}, gone, user="U1", url=slack_api.response_url_for("old"))
    assert ephemeral(slack_api, "old") == catalogue.text("control_expired", "en-US")


def test_stop_works_over_socket_mode(services: Any, slack_api: FakeSlackAPI, slack_config: Any, worker: Any,
                                     tgi: Any) -> None:
    tgi.reset()
    tgi.set_delays(between_tokens=0.1)
    tgi.script(LONG)
    server = FakeSlackSocket()
    server.start()
    slack_api.socket_url = server.url
    adapter = SlackAdapter(router=build_router(services), dedupe=services.dedupe, followed=followed_threads(services),
                           config=slack_config)
    stop_event = threading.Event()
    runner = threading.Thread(target=run_socket_mode, kwargs={"adapter": adapter, "app_token": APP_TOKEN,
                                                              "stop": stop_event}, daemon=True)  # fmt: skip
    runner.start()
    try:
        assert server.connected.wait(10)
        c = channel()
        server.send("events_api", {"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0TEST",
                                   "type": "event_callback", "event_id": f"Ev{time.time_ns()}",
                                   "event_time": int(time.time()), "event": mention("go on", ts="15.1", channel=c)})
        stream, stop = streaming_answer(slack_api, c, "15.1")
        payload = block_actions(button(stop, "stop")["action_id"], user="U1", channel_id=c, message_ts=stop.ts,
                                response_url=slack_api.response_url_for("sockstop"))  # fmt: skip
        server.wait_ack(server.send("interactive", payload), timeout=3.0)
        answer = final(slack_api, c, stream.ts, ending=STOPPED)
        assert answer.text.removesuffix(STOPPED).strip()
        wait_until(lambda: tgi.disconnects, timeout=10)
    finally:
        stop_event.set()
        runner.join(10)
        server.stop()


def test_a_retried_attempt_leaves_no_stop_button_behind(stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any) -> None:
    # The first generation stalls past the worker's token timeout; the retry answers whole.
    tgi.fail_next("stall", after_tokens=3, stall_seconds=5.0)
    tgi.script("one two three four five six", "The whole answer.")
    c = channel()
    stack.event(mention("go", ts="16.1", channel=c))
    wait_until(lambda: (r := slack_api.thread(c, "16.1")) and len(r) == 1 and not r[0].streaming
               and r[0].text == "The whole answer." and r, timeout=ANSWER_TIMEOUT)  # fmt: skip
    assert slack_api.count("chat.postMessage", channel=c) == 1  # one Stop message, reused by the retry
    # The stalled stream's end is seen by the fake at its next write, after the stall: wait for
    # it here, or it would land in the next test's count of streams that were cut.
    wait_until(lambda: tgi.disconnects, timeout=10)


def test_continue_on_a_cut_answer_posts_the_rest_that_follows_on_exactly(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    # tests/data/models.toml: the tgi preset's /chat stops at 200 tokens, with finish_reason "length".
    whole = " ".join(f"part{n}" for n in range(1, 301))
    tgi.script(whole, whole)
    note = catalogue.text("answer_cut", "en-US")
    c = channel()
    stack.event(mention("tell me everything", ts="17.1", channel=c))
    (first,) = wait_until(lambda: [m for m in slack_api.thread(c, "17.1") if not m.streaming
                                   and m.text.endswith(note) and m.buttons()], timeout=ANSWER_TIMEOUT)  # fmt: skip
    kinds = [decode(b["action_id"])[0] for b in first.buttons()]  # type: ignore[index]
    assert kinds == ["regenerate", "up", "down", "continue"]
    shown = first.text.removesuffix(note).strip()
    assert shown == " ".join(whole.split()[:200])
    click(stack, button(first, "continue"), first, user="U2", url=slack_api.response_url_for("cont"))
    rest = wait_until(lambda: [m for m in slack_api.thread(c, "17.1") if m.ts != first.ts and not m.streaming
                               and m.buttons()], timeout=ANSWER_TIMEOUT)  # fmt: skip
    (more,) = rest
    assert shown + more.text == whole  # a new message whose text follows on exactly (" part201 ...")
    assert note not in more.text
    assert [decode(b["action_id"])[0] for b in more.buttons()] == ["regenerate", "up", "down"]  # type: ignore[index]
    prompts = tgi.prompts()
    assert prompts[-1] == prompts[-2] + shown  # the same prompt, going on from the answer so far
    assert slack_api.message(c, first.ts).text == first.text  # type: ignore[union-attr]  # the cut answer stays


def test_continue_on_a_slash_command_answer_goes_on_in_its_thread(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    whole = " ".join(f"part{n}" for n in range(1, 301))  # tests/data/models.toml: /essay stops at 240 tokens
    tgi.script(whole, whole)
    note = catalogue.text("answer_cut", "en-US")
    c = channel()
    assert stack.command("/essay", "Tea", channel=c, response_url=slack_api.response_url_for("essay"))[0] == 200
    (header,) = wait_until(lambda: [m for m in slack_api.bot_messages(c) if m.thread_ts is None], timeout=10)
    first = answered(slack_api, c, header.ts)
    assert button_kinds(first) == ["regenerate", "up", "down", "continue"]
    shown = first.text.removesuffix(note).strip()
    click(stack, button(first, "continue"), first, user="U2", url=slack_api.response_url_for("cont2"))
    more = wait_until(lambda: [m for m in slack_api.thread(c, header.ts) if m.ts != first.ts and not m.streaming
                               and button_kinds(m)[:1] == ["regenerate"]], timeout=ANSWER_TIMEOUT)  # fmt: skip
    assert shown + more[0].text == whole  # the rest follows on exactly, in the same thread
    assert [m.ts for m in slack_api.bot_messages(c) if m.thread_ts is None] == [header.ts]  # no second header
