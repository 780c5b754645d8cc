"""Fixtures shared by integration test modules (beside tests/conftest.py's session ones)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakes.telegram_api import FakeTelegram


@pytest.fixture(scope="module")
def tg(fake_ports: dict[str, int]) -> Iterator[FakeTelegram]:
    """The fake Bot API on the port the worker was told about (TELEGRAM_API_URL)."""
    server = FakeTelegram(port=fake_ports["telegram"]).start()
    yield server
    server.stop()


def router_for(services: Any) -> Callable[[str | None], Any]:
    """What the composition root hands the Telegram adapter: a router for the bot's name."""
    from tertulia.bootstrap import build_router

    return lambda username: build_router(services, bot_username=username)
