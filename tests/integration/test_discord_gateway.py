"""The real discord.py client against our gateway: the handshake it performs, and a
session resumed after the gateway asks it to reconnect."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from fakes.discord_gateway import MESSAGE_CONTENT_INTENT, FakeGateway
from fakes.discord_payloads import bot_mention
from fakes.discord_server import BOT_TOKEN
from tests.conftest import wait_until
from tests.integration import discord_support
from tests.integration.discord_support import DiscordStack, start_bot

# The shared fixtures (bound here so pytest finds them in this module).
discord_bot = discord_support.discord_bot
discord_gateway = discord_support.discord_gateway
discord_rest = discord_support.discord_rest
discord_stack = discord_support.discord_stack

pytestmark = pytest.mark.integration

GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12


def test_the_client_identifies_with_compression_intents_and_heartbeats(discord_stack: DiscordStack) -> None:
    gateway: FakeGateway = discord_stack.gateway
    query = gateway.connect_queries[0]
    assert (query["v"], query["encoding"], query["compress"]) == ("10", "json", "zlib-stream")
    identify = gateway.identifies[0]
    assert identify["token"] == BOT_TOKEN
    intents = int(identify["intents"])
    assert intents & MESSAGE_CONTENT_INTENT and intents & GUILD_MESSAGES and intents & DIRECT_MESSAGES
    wait_until(lambda: gateway.ready_sessions() and gateway.ready_sessions()[0].heartbeats >= 1, timeout=5)


def test_after_op_7_reconnect_the_client_resumes_and_keeps_answering(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    gateway = stack.gateway
    session_id = gateway.ready_sessions()[0].id
    resumes = len(gateway.resumes)
    gateway.reconnect()
    wait_until(lambda: len(gateway.resumes) > resumes and gateway.ready_sessions(), timeout=15)
    assert gateway.resumes[-1]["session_id"] == session_id
    assert gateway.resumes[-1]["seq"] >= 2  # READY and GUILD_CREATE were seen
    assert len(gateway.identifies) == 1  # resumed, not re-identified
    message = stack.say(bot_mention("/help"), mentions_bot=True)
    assert stack.reply_to(message)["content"].startswith("I can help with:")


def test_without_a_gateway_url_the_client_asks_the_rest_base(
    discord_stack: DiscordStack, stack_env: dict[str, str], tmp_path: Path
) -> None:
    gateway = discord_stack.gateway
    env = {k: v for k, v in stack_env.items() if k != "DISCORD_GATEWAY_URL"}
    before = len(gateway.identifies)
    bot = start_bot(env, tmp_path / "bot.log")
    try:
        wait_until(lambda: "connected to Discord as" in bot.log() or bot.proc.poll() is not None, timeout=30)
        assert bot.proc.poll() is None, bot.log()[-3000:]
        assert discord_stack.rest.calls_to("GET", "^/gateway/bot$")
        assert len(gateway.identifies) == before + 1
    finally:
        bot.proc.send_signal(signal.SIGTERM)
        assert bot.proc.wait(timeout=15) == 0
    wait_until(lambda: len(gateway.ready_sessions()) == 1, timeout=10)  # only the shared bot is left
