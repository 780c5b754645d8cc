"""Fixtures and helpers for the Slack integration tests: the fake Web API on its session
port, the adapter running in-process in HTTP mode, and requests signed with Slack's v0
algorithm (computed here, as Slack computes it)."""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from bots.slack.app import SlackAdapter
from bots.slack.http_server import EVENTS_PATH, HttpServer
from bots.slack.threads import FOLLOW_TTL_SECONDS, NAMESPACE, FollowedThreads
from core.jobs import Job
from core.router import Router
from fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlackAPI
from fakes.slack_env import SIGNING_SECRET
from tests.conftest import free_port
from worker.celery_app import create_app
from worker.queue import CeleryJobQueue

_SERVERS: dict[int, FakeSlackAPI] = {}


@pytest.fixture(scope="session")
def slack_server(fake_ports: dict[str, int]) -> FakeSlackAPI:
    """One fake per session port. Each test module imports this fixture, which makes pytest
    hold one instance per module; the port can only be bound once, so they share it."""
    port = fake_ports["slack"]
    if port not in _SERVERS:
        server = FakeSlackAPI()
        server.start(port)
        atexit.register(server.stop)
        _SERVERS[port] = server
    return _SERVERS[port]


@pytest.fixture
def slack_api(slack_server: FakeSlackAPI) -> FakeSlackAPI:
    slack_server.reset()
    slack_server.add_user("U1", name="Ana", locale="en-US")
    slack_server.add_user("U2", name="Bruno", locale="es-ES")
    return slack_server


def make_router(services: Any) -> Router:
    """build_router's wiring, with a Celery app configured from the test settings (the
    module-level app in worker.celery_app reads this process's environment)."""
    settings = services.settings
    return Router(
        jobs=services.jobs,
        queue=CeleryJobQueue(create_app(settings), queue=settings.queue),
        context=services.context,
        choices=services.choices,
        model_names=services.registry.names,
        max_input_chars=settings.max_input_chars,
        max_attachment_bytes=settings.max_attachment_bytes,
    )


@dataclass
class SlackHttp:
    adapter: SlackAdapter
    server: HttpServer
    services: Any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{EVENTS_PATH}"

    def post(self, body: str, *, content_type: str, timestamp: int | None = None, secret: str = SIGNING_SECRET,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        """POST a signed request; returns (status, body, seconds until the answer)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        base = f"v0:{ts}:{body}".encode()
        signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.url, data=body.encode(), method="POST", headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            **(headers or {}),
        })
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), time.monotonic() - started
        except urllib.error.HTTPError as err:
            return err.code, err.read(), time.monotonic() - started

    def command(self, name: str, text: str, *, user: str = "U1", channel: str = "C1", response_url: str,
                trigger_id: str | None = None, **kw: Any) -> tuple[int, bytes, float]:
        form = {"token": "legacy", "team_id": TEAM_ID, "team_domain": "test", "channel_id": channel,
                "channel_name": "general", "user_id": user, "user_name": "ana", "command": name, "text": text,
                "api_app_id": "A0TEST", "response_url": response_url,
                "trigger_id": trigger_id or f"tr-{time.time_ns()}"}
        return self.post(urlencode(form), content_type="application/x-www-form-urlencoded", **kw)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, **kw: Any) -> tuple[int, bytes, float]:
        return self.post(json.dumps(event_callback(event, event_id=event_id)), content_type="application/json", **kw)

    def shortcut(self, payload: dict[str, Any], **kw: Any) -> tuple[int, bytes, float]:
        form = urlencode({"payload": json.dumps(payload)})
        return self.post(form, content_type="application/x-www-form-urlencoded", **kw)


def event_callback(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0TEST", "type": "event_callback",
            "event_id": event_id or f"Ev{time.time_ns()}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}]}


def mention(text: str, *, ts: str, channel: str = "C1", user: str = "U1", thread_ts: str | None = None,
            files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
                             "channel": channel, "event_ts": ts, "team": TEAM_ID}
    if thread_ts:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = files
    return event


def followed_threads(services: Any) -> FollowedThreads:
    """The composition root's store of the threads the bot is part of (tertulia/cli.py)."""
    return FollowedThreads(memory=services.memory(NAMESPACE, FOLLOW_TTL_SECONDS))


@contextmanager
def serving_slack(services: Any, config: Any, router: Any = None) -> Iterator[SlackHttp]:
    """The real Slack adapter in HTTP mode on a free loopback port, routing with ``router``
    (default: the composition root's for ``services``), until the block ends."""
    adapter = SlackAdapter(router=router or make_router(services), dedupe=services.dedupe,
                           followed=followed_threads(services), config=config)
    server = HttpServer(app=adapter.app, host="127.0.0.1", port=free_port())
    server.start()
    try:
        yield SlackHttp(adapter=adapter, server=server, services=services)
    finally:
        server.stop()


@pytest.fixture
def slack_http(services: Any, slack_api: FakeSlackAPI, slack_config: Any) -> Iterator[SlackHttp]:
    with serving_slack(services, slack_config) as http:
        yield http


def job_ids(services: Any) -> set[str]:
    """Every job saved under this session's prefix (a job is saved before it is enqueued)."""
    prefix = f"{services.settings.key_prefix}:job:"
    ids = set()
    for key in services.redis.scan_iter(match=f"{prefix}*", count=1000):
        rest = key.decode()[len(prefix) :]
        if ":" not in rest:
            ids.add(rest)
    return ids


def new_jobs(services: Any, before: set[str]) -> list[Job]:
    jobs = [services.jobs.load(i) for i in job_ids(services) - before]
    return sorted((j for j in jobs if j is not None), key=lambda j: j.created_at)
