"""HTTP mode: really signed requests to the adapter running in-process; what gets
refused, acknowledged, dropped and enqueued. No worker here: jobs are checked in Redis."""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bots.slack.address import SlackAddress
from core import catalogue
from fakes.slack_api import FakeSlackAPI
from fakes.waiting import free_port
from tests.conftest import wait_until
from tests.integration.slack_support import (  # noqa: F401  (fixtures)
    SlackHttp,
    job_ids,
    mention,
    new_jobs,
    serving_slack,
    slack_api,
    slack_http,
    slack_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def drain(services: Any) -> Any:
    """Jobs these tests enqueue must not reach a worker that starts later in the session:
    their queue entries are removed at teardown (the job records stay, as evidence)."""
    yield
    services.redis.delete(f"{services.settings.key_prefix}:celery:{services.settings.queue}")
    for key in services.redis.scan_iter(match=f"{services.settings.key_prefix}:celery:*", count=1000):
        if services.redis.type(key) == b"list":
            services.redis.delete(key)


def test_a_bad_signature_is_refused_and_nothing_is_enqueued(slack_http: SlackHttp, slack_api: FakeSlackAPI) -> None:
    before = job_ids(slack_http.services)
    url = slack_api.response_url_for("bad")
    status, _, _ = slack_http.command("/essay", "The sea", response_url=url, secret="not-the-secret")
    assert status == 401
    status, _, _ = slack_http.event(mention("hello", ts="1.1"), secret="not-the-secret")
    assert status == 401
    time.sleep(0.3)
    assert job_ids(slack_http.services) == before and slack_api.responses == []


def test_a_stale_timestamp_is_refused(slack_http: SlackHttp, slack_api: FakeSlackAPI) -> None:
    before = job_ids(slack_http.services)
    stale = int(time.time()) - 6 * 60  # Slack's window is 5 minutes
    status, _, _ = slack_http.event(mention("hello", ts="1.2"), timestamp=stale)
    assert status == 401
    time.sleep(0.3)
    assert job_ids(slack_http.services) == before


def test_a_replayed_event_is_acknowledged_and_dropped(slack_http: SlackHttp, drain: Any) -> None:
    before = job_ids(slack_http.services)
    event = mention("what is entropy?", ts="1.3")
    assert slack_http.event(event, event_id="EvReplay1")[0] == 200
    wait_until(lambda: len(job_ids(slack_http.services) - before) == 1)
    for attempt in (1, 2):  # Slack's retries carry the same event_id
        status, _, _ = slack_http.event(event, event_id="EvReplay1",
                                        headers={"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "timeout"})
        assert status == 200
    time.sleep(0.5)
    (job,) = new_jobs(slack_http.services, before)
    assert job.args == {"text": "what is entropy?"} and job.message.thread == "1.3"


def test_a_replayed_slash_command_makes_one_job(slack_http: SlackHttp, slack_api: FakeSlackAPI, drain: Any) -> None:
    # A validly signed command sent again (a retry, a replay) carries the same trigger_id.
    before = job_ids(slack_http.services)
    url = slack_api.response_url_for("replay")
    for _ in range(3):
        status, _, _ = slack_http.command("/essay", "Tides", response_url=url, trigger_id="tr-replayed-1")
        assert status == 200
    wait_until(lambda: job_ids(slack_http.services) - before)
    time.sleep(0.5)
    (job,) = new_jobs(slack_http.services, before)
    assert job.args == {"title": "Tides"}


def test_with_redis_down_a_command_is_told_so_not_dropped(slack_api: FakeSlackAPI, slack_config: Any,
                                                         settings: Any) -> None:
    from tertulia.bootstrap import build_services

    dead = build_services(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/13"}))
    with serving_slack(dead, slack_config) as down:
        status, body, seconds = down.command("/essay", "Tides", response_url=slack_api.response_url_for("down"))
    assert status == 200 and seconds < 3.0
    assert json.loads(body)["text"] == catalogue.text("temporarily_unavailable")


def test_a_command_is_acked_at_once_and_enqueues_a_job(slack_http: SlackHttp, slack_api: FakeSlackAPI,
                                                       drain: Any) -> None:
    before = job_ids(slack_http.services)
    url = slack_api.response_url_for("c1")
    status, _, seconds = slack_http.command("/essay", "The history of coffee", response_url=url)
    assert status == 200 and seconds < 3.0
    wait_until(lambda: job_ids(slack_http.services) - before)
    (job,) = new_jobs(slack_http.services, before)
    assert job.kind == "essay" and job.args == {"title": "The history of coffee"}
    assert job.message.address == SlackAddress(command="/essay The history of coffee", response_url=url)


def test_a_usage_reply_is_ephemeral_and_no_job(slack_http: SlackHttp, slack_api: FakeSlackAPI) -> None:
    before = job_ids(slack_http.services)
    url = slack_api.response_url_for("c2")
    assert slack_http.command("/translate", "", response_url=url)[0] == 200
    (posted,) = wait_until(lambda: slack_api.responses)
    assert posted["response_type"] == "ephemeral" and posted["text"].startswith("Usage: /translate")
    assert job_ids(slack_http.services) == before


def test_help_through_the_umbrella_command_in_the_users_locale(slack_http: SlackHttp,
                                                               slack_api: FakeSlackAPI) -> None:
    url = slack_api.response_url_for("c3")
    assert slack_http.command("/tertulia", "help", user="U2", response_url=url)[0] == 200
    (posted,) = wait_until(lambda: slack_api.responses)
    assert posted["text"].startswith("Puedo ayudarte")  # U2's Slack locale is es-ES


def test_url_verification_is_answered(slack_http: SlackHttp) -> None:
    body = json.dumps({"token": "legacy", "challenge": "abc123", "type": "url_verification"})
    status, answer, _ = slack_http.post(body, content_type="application/json")
    assert status == 200 and b"abc123" in answer


def test_bot_messages_are_ignored(slack_http: SlackHttp) -> None:
    before = job_ids(slack_http.services)
    event = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U7", "bot_id": "B7",
             "text": "I am a bot", "ts": "1.4"}
    assert slack_http.event(event)[0] == 200
    time.sleep(0.5)
    assert job_ids(slack_http.services) == before


def test_tertulia_slack_serves_http_mode_and_stops_cleanly(stack_env: dict[str, str], slack_api: FakeSlackAPI) -> None:
    import os
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from tests.conftest import REPO, free_port

    port = free_port()
    env = {**os.environ, **stack_env, "TERTULIA_SLACK_PORT": str(port), "TERTULIA_SLACK_HOST": "127.0.0.1"}
    env.pop("SLACK_APP_TOKEN", None)  # HTTP mode
    proc = subprocess.Popen([sys.executable, "-m", "tertulia.cli", "slack"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def answers() -> bool:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/slack/events", data=b"{}", timeout=1)
            except urllib.error.HTTPError as err:
                return err.code == 401  # unsigned: refused, so the server is up and verifying
            except OSError:
                return False
            return False

        wait_until(answers, timeout=30)
        assert slack_api.count("auth.test") >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    assert code == 0, proc.stdout.read().decode() if proc.stdout else ""


def test_an_adapters_lines_carry_the_platform_and_the_event_id(slack_http: SlackHttp, drain: Any) -> None:
    import io
    import logging

    from tertulia.logs import configure_logging

    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("INFO", settings=slack_http.services.settings, stream=out)
    try:
        before = job_ids(slack_http.services)
        assert slack_http.event(mention("what is a tide?", ts="9.1"), event_id="EvLogged1")[0] == 200
        wait_until(lambda: job_ids(slack_http.services) - before)
        wait_until(lambda: "job queued" in out.getvalue())
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    (queued,) = [json.loads(line) for line in out.getvalue().splitlines() if '"job queued"' in line]
    assert (queued["platform"], queued["event_id"]) == ("slack", "EvLogged1")
