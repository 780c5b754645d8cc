"""The Telegram adapter served against the fake Bot API for a test module, and fresh ids for
the people and chats of a transcript (tests/integration/test_telegram_*.py)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.telegram_api import FakeTelegram
from fakes.telegram_runner import AdapterRunner
from fakes.telegram_updates import user
from tests.integration.conftest import router_for

# Ids no other test module uses: every module talks to the same session-wide fake and worker.
_ids = itertools.count(random.randint(10**6, 10**8) * 10)


def new_id() -> int:
    return next(_ids)


def person(name: str = "Ana", language: str = "en") -> dict[str, Any]:
    return user(new_id(), name, language_code=language)


@pytest.fixture(scope="module")
def bot(tg: FakeTelegram, telegram_config: Any, services: Any, worker: Any) -> Iterator[AdapterRunner]:
    """The real adapter (polling the fake) for the module, with the session's worker behind it."""
    runner = AdapterRunner(config=telegram_config, router_for=router_for(services), dedupe=services.dedupe).start()
    runner.menus = {language: list(commands) for language, commands in tg.commands.items()}
    yield runner
    runner.stop()


@pytest.fixture
def world(tg: FakeTelegram, bot: AdapterRunner, tgi: Any) -> Iterator[FakeTelegram]:
    """The fake Bot API and model server, reset before and after each test."""
    tgi.reset()
    tg.reset()
    yield tg
    tgi.reset()
