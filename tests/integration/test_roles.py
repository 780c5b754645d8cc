# ruff: noqa: F811  (pytest fixtures imported from the support modules are redefined as arguments)
"""Every role started the way docker-compose.yml starts it: its command, and the environment
every tertulia service gets there (health and metrics ports set), against the local fakes.

This is the test that would have caught `tertulia discord` and `tertulia telegram` dying
with "Address already in use": the health server was started twice in one process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fakes.waiting import free_port, wait_until
from tests.integration import discord_support
from tests.integration.slack_support import slack_server  # noqa: F401  (fixture)
from tests.integration.test_health_metrics import get

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())

# The fakes each adapter talks to (bound here so pytest finds the fixtures).
discord_rest = discord_support.discord_rest
discord_gateway = discord_support.discord_gateway


def compose_command(service: str) -> list[str]:
    """The arguments compose passes to the image's entrypoint (`tertulia`)."""
    return [str(part) for part in COMPOSE["services"][service]["command"]]


def compose_environment() -> dict[str, str]:
    """What every tertulia service gets: the shared `x-app` environment. The ports keep
    their meaning (set, non-zero) but are free ones, so the test can run beside anything."""
    shared = COMPOSE["services"]["worker"]["environment"]
    assert {"TERTULIA_HEALTH_PORT", "TERTULIA_METRICS_PORT"} <= set(shared)
    return {"TERTULIA_HEALTH_PORT": str(free_port()), "TERTULIA_METRICS_PORT": str(free_port())}


@pytest.fixture
def role_env(stack_env: dict[str, str], tgi: Any, tg: Any, slack_server: Any,
             discord_gateway: Any) -> dict[str, str]:
    return {**os.environ, **stack_env, **compose_environment(), "TERTULIA_SLACK_PORT": str(free_port()),
            "TERTULIA_TELEGRAM_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}


ROLES = [
    ("worker", compose_command("worker")),
    ("slack", [*compose_command("slack"), "--http"]),  # HTTP mode: the fake has no Socket Mode here
    ("discord", compose_command("discord")),
    ("telegram", compose_command("telegram")),
    ("console", ["console"]),
]


@pytest.mark.parametrize(("role", "command"), ROLES, ids=[r for r, _c in ROLES])
def test_every_role_starts_as_compose_starts_it_and_answers_healthz(
    role: str, command: list[str], role_env: dict[str, str], tmp_path: Path
) -> None:
    log_path = tmp_path / f"{role}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tertulia.cli", *command], cwd=REPO, env=role_env,
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
        )
    health = f"http://127.0.0.1:{role_env['TERTULIA_HEALTH_PORT']}/healthz"
    metrics = f"http://127.0.0.1:{role_env['TERTULIA_METRICS_PORT']}/metrics"
    try:
        answered = wait_until(lambda: proc.poll() is not None or _answers(health), timeout=60, interval=0.2)
        assert proc.poll() is None and answered is True, f"{role} died:\n{log_path.read_text()[-3000:]}"
        assert get(metrics)[0] == 200
        assert "Address already in use" not in log_path.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def _answers(url: str) -> bool:
    try:
        return get(url, timeout=1.0)[0] == 200
    except OSError:
        return False
