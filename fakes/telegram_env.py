"""Environment for processes that talk to the fake Bot API (the Celery worker)."""

from __future__ import annotations

from fakes.telegram_api import TOKEN


def worker_env(fake_ports: dict[str, int]) -> dict[str, str]:
    return {
        "TELEGRAM_API_URL": f"http://127.0.0.1:{fake_ports['telegram']}",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        # The worker lives for the whole test session: a test that makes the fake refuse
        # drafts must not leave the worker without them for the tests after it.
        "TERTULIA_TELEGRAM_DRAFT_RECHECK_SECONDS": "0",
    }
