"""The Slack part of the test stack's environment (read by tests/conftest.py)."""

from __future__ import annotations

from fakes.slack_api import BOT_TOKEN

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"


def worker_env(fake_ports: dict[str, int]) -> dict[str, str]:
    return {
        "SLACK_API_URL": f"http://127.0.0.1:{fake_ports['slack']}/api/",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
