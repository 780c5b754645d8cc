"""`tertulia discord sync-commands`: every command, with its options, lands in the PUT."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fakes.discord_server import APPLICATION_ID, GUILD_ID, FakeDiscord
from tests.conftest import REPO
from tests.integration import discord_support

# The shared fixtures (bound here so pytest finds them in this module).
discord_rest = discord_support.discord_rest

pytestmark = pytest.mark.integration

EXPECTED_OPTIONS = {
    "essay": ["title"], "summarize": ["text", "file", "messages"], "translate": ["language", "text"],
    "chat": ["text", "file"], "entities": ["text"], "code": ["text"], "ask": ["question", "file"], "model": ["name"],
    "models": [], "reset": [], "help": [], "persona": ["text"], "usage": [], "continue": [], "stop": [],
}


def sync(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tertulia.cli", "discord", "sync-commands", *args],
        cwd=REPO, env={**os.environ, **stack_env}, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("guild", [GUILD_ID, None])
def test_sync_commands_registers_every_command_with_its_options(
    discord_rest: FakeDiscord, stack_env: dict[str, str], guild: str | None
) -> None:
    discord_rest.reset()
    done = sync(stack_env, *(["--guild", guild] if guild else []))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Registered {len(EXPECTED_OPTIONS)} commands" in done.stdout

    path = f"/applications/{APPLICATION_ID}/guilds/{guild}/commands" if guild else \
        f"/applications/{APPLICATION_ID}/commands"
    (put,) = discord_rest.calls_to("PUT", f"^{path}$")
    assert put.headers["Authorization"] == f"Bot {stack_env['DISCORD_BOT_TOKEN']}"
    body = {command["name"]: command for command in put.body}
    assert {n: [o["name"] for o in c.get("options", [])] for n, c in body.items()} == EXPECTED_OPTIONS

    translate = {o["name"]: o for o in body["translate"]["options"]}
    assert translate["language"]["autocomplete"] is True and translate["language"]["type"] == 3
    model = body["model"]["options"][0]
    assert model["autocomplete"] is True and model["required"] is True
    summarize = {o["name"]: o for o in body["summarize"]["options"]}
    assert summarize["file"]["type"] == 11  # ATTACHMENT
    assert (summarize["messages"]["type"], summarize["messages"]["max_value"]) == (4, 100)
    assert not any(o.get("required") for o in summarize.values())
    for command in body.values():
        assert command["description_localizations"]["es-ES"]
        assert command["description_localizations"]["es-419"]
    assert body["reset"]["description_localizations"]["es-ES"] == "Olvidar esta conversación"
    stored = discord_rest.commands[guild or "global"]
    assert sorted(c["name"] for c in stored) == sorted(EXPECTED_OPTIONS)


def test_sync_commands_without_a_token_explains_and_fails(stack_env: dict[str, str]) -> None:
    env = {k: v for k, v in stack_env.items() if k != "DISCORD_BOT_TOKEN"}
    clean = {k: v for k, v in os.environ.items() if k != "DISCORD_BOT_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "tertulia.cli", "discord", "sync-commands"], cwd=REPO,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "DISCORD_BOT_TOKEN" in done.stderr
