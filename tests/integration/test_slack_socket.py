"""Socket Mode against a local WebSocket server speaking Slack's envelopes and acks."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bots.slack.app import SlackAdapter, run_socket_mode
from bots.slack.config import SlackConfig
from fakes.slack_api import APP_TOKEN, TEAM_ID, FakeSlackAPI
from fakes.slack_socket import FakeSlackSocket
from tests.conftest import wait_until
from tests.integration.slack_support import (  # noqa: F401  (fixtures)
    event_callback,
    followed_threads,
    job_ids,
    make_router,
    mention,
    slack_api,
    slack_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def socket_server(slack_api: FakeSlackAPI) -> Iterator[FakeSlackSocket]:
    server = FakeSlackSocket()
    server.start()
    slack_api.socket_url = server.url
    yield server
    server.stop()


def test_socket_mode_acks_envelopes_and_answers(services: Any, slack_api: FakeSlackAPI, socket_server: FakeSlackSocket,
                                                worker: Any, tgi: Any, slack_config: SlackConfig) -> None:
    tgi.reset()
    tgi.script("Socket answer.")
    adapter = SlackAdapter(router=make_router(services), dedupe=services.dedupe, followed=followed_threads(services),
                           config=slack_config)
    stop = threading.Event()
    runner = threading.Thread(target=run_socket_mode, kwargs={"adapter": adapter, "app_token": APP_TOKEN,
                                                              "stop": stop}, daemon=True)
    runner.start()
    try:
        assert socket_server.connected.wait(10)
        assert slack_api.count("apps.connections.open") >= 1
        c = f"C{time.time_ns()}"
        before = job_ids(services)
        command = {"token": "legacy", "team_id": TEAM_ID, "channel_id": c, "channel_name": "general",
                   "user_id": "U1", "user_name": "ana", "command": "/chat", "text": "hello over a socket",
                   "api_app_id": "A0TEST", "response_url": slack_api.response_url_for("sock"), "trigger_id": "t"}
        started = time.monotonic()
        envelope = socket_server.send("slash_commands", command, accepts_response_payload=True)
        socket_server.wait_ack(envelope, timeout=3.0)
        assert time.monotonic() - started < 3.0
        header = wait_until(lambda: [m for m in slack_api.bot_messages(c) if m.thread_ts is None], timeout=10)[0]
        # Once the answer has landed, the thread holds it alone (the Stop button's message is gone).
        answer = wait_until(lambda: (r := slack_api.thread(c, header.ts)) and len(r) == 1 and not r[0].streaming
                            and r, timeout=40)  # fmt: skip
        assert answer[0].text == "Socket answer."

        # An event Slack redelivers (retry_attempt 1, same event_id) is acked and dropped.
        payload = event_callback(mention("again", ts="3.3", channel=c), event_id="EvSock1")
        tgi.script("Once.")
        socket_server.wait_ack(socket_server.send("events_api", payload))
        socket_server.wait_ack(socket_server.send("events_api", payload, retry_attempt=1))
        wait_until(lambda: [m for m in slack_api.thread(c, "3.3") if not m.streaming], timeout=40)
        time.sleep(0.5)
        assert len(job_ids(services) - before) == 2  # the command and one mention
    finally:
        stop.set()
        runner.join(timeout=10)
