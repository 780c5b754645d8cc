"""A refused draft or stream method falls back to send-and-edit, and the answer arrives whole
(the platform fakes refuse the methods the way an old server does; a real worker answers)."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from core import catalogue
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import FakeTelegram
from fakes.telegram_runner import AdapterRunner
from fakes.telegram_updates import user
from tests.conftest import wait_until
from tests.integration.slack_support import (  # noqa: F401  (fixtures)
    SlackHttp,
    mention,
    slack_api,
    slack_http,
    slack_server,
)
from tests.integration.telegram_support import bot, new_id  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
LONG = " ".join(f"word{i}" for i in range(40)) + "."


# --- Telegram: sendMessageDraft refused by a Bot API server that predates it ----------------


@pytest.fixture
def old_server(tg: FakeTelegram, bot: AdapterRunner, tgi: Any) -> Iterator[FakeTelegram]:
    tgi.reset()
    tg.reset()
    tg.predates("sendMessageDraft")
    yield tg
    tg.reset()
    tgi.reset()


def test_a_refused_draft_in_a_private_chat_falls_back_and_the_answer_arrives_whole(
    old_server: FakeTelegram, tgi: Any
) -> None:
    tgi.script(LONG)
    tgi.set_delays(between_tokens=0.05)  # long enough for the answer to grow by edits
    ana = user(new_id(), "Ana")
    chat = old_server.private_chat(ana)
    old_server.user_message(chat, ana, "/chat tell me a story")
    old_server.wait_for(lambda: old_server.bot_texts(chat["id"]) == [LONG], timeout=40)
    refused = old_server.calls_of("sendMessageDraft", chat_id=chat["id"], ok=False)
    assert len(refused) == 1 and "method not found" in (refused[0].error or "")  # asked once, not per update
    assert len(old_server.calls_of("sendMessage", chat_id=chat["id"])) == 1
    assert old_server.calls_of("editMessageText", chat_id=chat["id"])  # it grew in place


def test_an_error_reply_after_a_refused_draft_does_not_repeat_the_call(old_server: FakeTelegram, tgi: Any) -> None:
    tgi.fail_next("http_422")  # a validation error: the job answers with the error, no retry
    ana = user(new_id(), "Ana")
    chat = old_server.private_chat(ana)
    old_server.user_message(chat, ana, "/chat hello")
    [text] = old_server.wait_for(lambda: old_server.bot_texts(chat["id"]), timeout=40)
    assert text  # the user is told
    assert len(old_server.calls_of("sendMessageDraft", chat_id=chat["id"], ok=None)) <= 1
    assert not old_server.calls_of("sendMessage", chat_id=chat["id"], ok=False)


# --- Slack: the streaming methods refused ----------------------------------------------------


@pytest.fixture
def stack(slack_http: SlackHttp, worker: Any, tgi: Any) -> Iterator[SlackHttp]:
    tgi.reset()
    yield slack_http
    tgi.reset()


def _final_thread(api: FakeSlackAPI, channel: str, thread_ts: str, text: str) -> Any:
    return wait_until(lambda: [m for m in api.thread(channel, thread_ts) if m.text == text and not m.streaming],
                      timeout=40)


def test_refused_stream_methods_fall_back_to_post_and_update(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    slack_api.missing_methods.update({"chat.startStream", "chat.appendStream", "chat.stopStream"})
    tgi.script(LONG)
    tgi.set_delays(between_tokens=0.05)
    c = f"C{time.time_ns()}"
    assert stack.event(mention("tell me a story", ts="8.1", channel=c))[0] == 200
    (_answer,) = _final_thread(slack_api, c, "8.1", LONG)
    assert slack_api.count("chat.postMessage", channel=c) == 1 and slack_api.count("chat.update", channel=c) >= 1
    assert slack_api.count("chat.startStream", channel=c) == 1  # refused once; the answer went on without


def test_an_append_refused_mid_stream_falls_back_and_the_answer_arrives_whole(
    stack: SlackHttp, slack_api: FakeSlackAPI, tgi: Any
) -> None:
    slack_api.missing_methods.add("chat.appendStream")
    tgi.script(LONG)
    tgi.set_delays(between_tokens=0.05)
    c = f"C{time.time_ns()}"
    assert stack.event(mention("tell me a story", ts="8.2", channel=c))[0] == 200
    (answer,) = _final_thread(slack_api, c, "8.2", LONG)
    assert slack_api.count("chat.startStream", channel=c) == 1 and slack_api.count("chat.update", channel=c) >= 1
    assert len(slack_api.thread(c, "8.2")) == 1  # the same message, finished by chat.update
    assert catalogue.text("internal_error", "en") not in answer.text
