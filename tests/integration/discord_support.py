"""Fixtures for the Discord integration tests: the fake REST API and gateway on their
session ports, and the real adapter (`python -m bots.discord`, discord.py inside) as a
child process connected to them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes.discord_gateway import FakeGateway
from fakes.discord_payloads import message_create, person, slash_command
from fakes.discord_server import FakeDiscord
from tests.conftest import REPO, wait_until

ANA = person("1000000000000000701", "ana")
BRUNO = person("1000000000000000702", "bruno")


# Each test module that uses these session fixtures gets its own copy of the fixture
# definitions, so the servers and the bot are kept here: one of each per session.
_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def discord_rest(fake_ports: dict[str, int]) -> Iterator[FakeDiscord]:
    if "rest" in _SHARED:
        yield _SHARED["rest"]
        return
    server = _SHARED["rest"] = FakeDiscord()
    server.start(fake_ports["discord"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def discord_gateway(discord_rest: FakeDiscord, fake_ports: dict[str, int]) -> Iterator[FakeGateway]:
    if "gateway" in _SHARED:
        yield _SHARED["gateway"]
        return
    gateway = _SHARED["gateway"] = FakeGateway(rest=discord_rest)
    gateway.start(fake_ports["discord_gateway"])
    yield gateway
    gateway.stop()


@dataclass
class BotProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_bot(env: dict[str, str], log_path: Path, *args: str) -> BotProcess:
    log = open(log_path, "wb")  # noqa: SIM115 - the child owns it; closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "tertulia.cli", "discord", *args],  # as compose starts it
        cwd=REPO, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    return BotProcess(proc=proc, log_path=log_path)


OPEN_POLICY = "# open to everyone (tests/integration/discord_support.py)\n"


def bot_policy_file() -> Path:
    """The running bot's policy file (see discord_bot)."""
    return Path(_SHARED["policy"])


@pytest.fixture(scope="session")
def discord_bot(
    stack_env: dict[str, str], discord_gateway: FakeGateway, redis_client: Any, tmp_path_factory: Any
) -> Iterator[BotProcess]:
    if "bot" in _SHARED:
        yield _SHARED["bot"]
        return
    # Its own policy file, open to all; a test may rewrite it (the bot re-reads it) and restore it.
    policy = tmp_path_factory.mktemp("discord-policy") / "policy.toml"
    policy.write_text(OPEN_POLICY)
    _SHARED["policy"] = policy
    env = {**stack_env, "TERTULIA_POLICY_FILE": str(policy)}
    bot = _SHARED["bot"] = start_bot(env, tmp_path_factory.mktemp("discord") / "bot.log")
    try:
        wait_until(lambda: "connected to Discord as" in bot.log() or bot.proc.poll() is not None, timeout=30)
        if bot.proc.poll() is not None:
            raise RuntimeError(f"discord adapter died:\n{bot.log()[-4000:]}")
        yield bot
    finally:
        bot.proc.send_signal(signal.SIGTERM)
        try:
            code = bot.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            bot.proc.kill()
            raise
        # SIGTERM is a clean stop: exit status 0 and the adapter said so.
        assert code == 0, bot.log()[-4000:]
        assert "discord adapter stopped" in bot.log()


@dataclass
class DiscordStack:
    rest: FakeDiscord
    gateway: FakeGateway
    bot: BotProcess
    tgi: Any
    worker: Any

    def command(self, name: str, options: list[dict[str, Any]] | None = None, *, user: dict[str, Any] = ANA,
                **kwargs: Any) -> dict[str, Any]:
        payload = slash_command(self.rest, name, options, user=user, **kwargs)
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        return payload

    def say(self, content: str, *, user: dict[str, Any] = ANA, **kwargs: Any) -> dict[str, Any]:
        payload = message_create(self.rest, content, author=user, **kwargs)
        self.gateway.dispatch("MESSAGE_CREATE", payload)
        return payload

    def answer(self, payload: dict[str, Any], expected: str, *, timeout: float = 20.0) -> list[str]:
        """Waits until the interaction's messages, joined, read ``expected``."""
        def done() -> list[str] | None:
            pieces = self.rest.answer_of(payload["token"])
            return pieces if "".join(pieces) == expected else None

        try:
            return list(wait_until(done, timeout=timeout))
        except AssertionError:
            raise AssertionError(
                f"answer never became {expected[:200]!r}; it is {self.rest.answer_of(payload['token'])!r}\n"
                f"bot log:\n{self.bot.log()[-2000:]}\nworker log:\n{self.worker.log()[-4000:]}"
            ) from None

    def reply_to(self, message: dict[str, Any], expected: str | None = None, *,
                 timeout: float = 20.0) -> dict[str, Any]:
        """The bot's channel message that replies to ``message``, once it reads
        ``expected`` (or, without one, once it has any content)."""
        def found() -> dict[str, Any] | None:
            for candidate in self.rest.channel_messages(message["channel_id"]):
                reference = candidate.get("message_reference") or {}
                if reference.get("message_id") != message["id"] or not candidate["content"]:
                    continue
                if expected is None or candidate["content"] == expected:
                    return candidate
            return None

        try:
            return dict(wait_until(found, timeout=timeout))
        except AssertionError:
            texts = self.rest.channel_texts(message["channel_id"])[-5:]
            raise AssertionError(f"no reply {expected!r} to {message['content']!r}; channel ends {texts!r}\n"
                                 f"worker log:\n{self.worker.log()[-3000:]}") from None

    def settle(self, seconds: float = 0.5) -> None:
        time.sleep(seconds)


@pytest.fixture
def discord_stack(discord_rest: FakeDiscord, discord_gateway: FakeGateway, discord_bot: BotProcess,
                  worker: Any, tgi: Any) -> DiscordStack:
    discord_rest.reset()
    tgi.reset()
    return DiscordStack(rest=discord_rest, gateway=discord_gateway, bot=discord_bot, tgi=tgi, worker=worker)
