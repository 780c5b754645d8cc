"""The Discord part of the test stack's environment (read by tests/conftest.py)."""

from __future__ import annotations

from fakes.discord_server import BOT_TOKEN


def worker_env(fake_ports: dict[str, int]) -> dict[str, str]:
    return {
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
        "DISCORD_API_URL": f"http://127.0.0.1:{fake_ports['discord']}/api/v10",
        "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{fake_ports['discord_gateway']}/",
    }
