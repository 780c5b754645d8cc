"""The Slack part of the test stack's environment (read by tests/conftest.py)."""

from __future__ import annotations

from fakes.slack_api import BOT_TOKEN

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


def worker_env(fake_ports: dict[str, int]) -> dict[str, str]:
    return {
        "SLACK_API_URL": f"http://127.0.0.1:{fake_ports['slack']}/api/",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        # The worker lives for the whole test session: a test that makes the fake refuse
        # streams must not leave the worker without them for the tests after it.
        "TERTULIA_SLACK_STREAM_RECHECK_SECONDS": "0",
    }
