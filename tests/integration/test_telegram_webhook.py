"""Webhook mode: PTB's webhook server behind TELEGRAM_WEBHOOK_URL, guarded by the secret."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from fakes.telegram_api import FakeTelegram
from fakes.telegram_runner import AdapterRunner
from fakes.telegram_updates import user
from tests.conftest import free_port
from tests.integration.conftest import router_for

pytestmark = pytest.mark.integration
SECRET = "s3cret_Token-for-tests"
_ids = itertools.count(random.randint(10**6, 10**8) * 10)


@pytest.fixture(scope="module")
def hook(tg: FakeTelegram, telegram_config: Any, services: Any, worker: Any) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/updates"
    webhook = telegram_config.model_copy(update={"webhook_url": url, "webhook_secret": SecretStr(SECRET), "port": port})
    runner = AdapterRunner(config=webhook, router_for=router_for(services), dedupe=services.dedupe).start()
    assert tg.webhook == {"url": url, "secret_token": SECRET, "allowed_updates": ["message", "callback_query"]}
    yield url
    runner.stop()


@pytest.fixture
def world(tg: FakeTelegram, hook: str, tgi: Any) -> FakeTelegram:
    tgi.reset()
    with tg.lock:  # keep the webhook registration; clear the rest
        webhook = dict(tg.webhook)
        tg.reset()
        tg.webhook = webhook
    return tg


def post(url: str, update: dict[str, Any], secret: str | None) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return httpx.post(url, json=update, headers=headers, timeout=10).status_code


def test_a_request_without_the_right_secret_gets_403_and_nothing_runs(world: FakeTelegram, hook: str,
                                                                       tgi: Any) -> None:
    ana = user(next(_ids), "Ana")
    chat = world.private_chat(ana)
    update = world.user_message(chat, ana, "/chat are you there?")
    assert post(hook, update, None) == 403
    assert post(hook, update, "wrong-secret") == 403
    time.sleep(2)
    assert not world.bot_texts(chat["id"]) and not tgi.generation_requests()
    assert not world.calls_of("sendChatAction", chat_id=chat["id"])
    # The same update_id, now with the secret, is new to the pipeline: the 403s never reached it.
    assert post(hook, update, SECRET) == 200
    assert world.wait_for(lambda: world.bot_texts(chat["id"])) == ["Echo: are you there?"]


def test_a_redelivered_webhook_update_runs_once(world: FakeTelegram, hook: str, tgi: Any) -> None:
    ana = user(next(_ids), "Ana")
    chat = world.private_chat(ana)
    update = world.user_message(chat, ana, "/chat only once please")
    assert post(hook, update, SECRET) == 200
    assert post(hook, update, SECRET) == 200  # Telegram retrying a webhook it thinks failed
    world.wait_for(lambda: world.bot_texts(chat["id"]))
    follow_up = world.user_message(chat, ana, "/chat and this one")
    assert post(hook, follow_up, SECRET) == 200
    world.wait_for(lambda: len(world.bot_texts(chat["id"])) == 2)
    assert world.bot_texts(chat["id"]) == ["Echo: only once please", "Echo: and this one"]
    assert len(tgi.generation_requests()) == 2


def test_getupdates_is_refused_while_the_webhook_is_set(world: FakeTelegram) -> None:
    response = httpx.post(f"{world.url}/bot{world.token}/getUpdates", data={"timeout": "0"}, timeout=5)
    assert response.status_code == 409
    assert response.json()["description"].startswith("Conflict: can't use getUpdates method while webhook is active")


def test_tertulia_telegram_polls_and_stops_cleanly_on_sigterm(tg: FakeTelegram, stack_env: dict[str, str]) -> None:
    """The real entry point, as a process: it publishes the menu, polls, and exits 0 on SIGTERM."""
    import os
    import signal
    import subprocess
    import sys

    with tg.lock:
        webhook = dict(tg.webhook)
        tg.reset()
    env = {**os.environ, **stack_env, "TELEGRAM_WEBHOOK_URL": ""}
    proc = subprocess.Popen([sys.executable, "-m", "tertulia.cli", "telegram"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        tg.wait_for(lambda: tg.calls_of("getUpdates"), timeout=30)
        assert set(tg.commands) == {"", "es"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        with tg.lock:
            tg.webhook = webhook
