"""Outsiders through the real adapters and the platform fakes (issue 13): in a group the bot
says nothing, in a DM it answers once, and nothing reaches the queue. Discord's members
arrive with their role ids (the allowlist reads them; see test_policy.py for its rules)."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.discord.inbound import role_ids
from core import actions, catalogue
from core.table import COMMANDS
from fakes.discord_model import APPLICATION_ID, CHANNEL_ID
from fakes.discord_payloads import bot_mention, option
from fakes.slack_api import TEAM_ID, FakeSlackAPI
from fakes.telegram_api import FakeTelegram
from fakes.telegram_runner import AdapterRunner
from fakes.telegram_updates import user
from tests.conftest import wait_until
from tests.integration import discord_support
from tests.integration.discord_support import ANA, BRUNO, OPEN_POLICY, DiscordStack, bot_policy_file
from tests.integration.policy_support import policy_services, queued, saved_jobs
from tests.integration.slack_support import SlackHttp, mention, serving_slack, slack_api, slack_server  # noqa: F401

pytestmark = pytest.mark.integration

# The shared Discord fixtures (bound here so pytest finds them in this module).
discord_bot = discord_support.discord_bot
discord_gateway = discord_support.discord_gateway
discord_rest = discord_support.discord_rest
discord_stack = discord_support.discord_stack

SETTLE = 1.0  # for messages that must get no answer: time for the adapter to have handled them


@pytest.fixture
def gated(settings: Any, stack_env: dict[str, str], tmp_path: Path) -> Any:
    text = f"""
[slack]
workspaces = ["{TEAM_ID}"]
channels = ["CIN"]
users = ["U2"]
[telegram]
chats = ["-100"]
users = ["7001"]
admins = ["7999"]
"""
    return policy_services(settings, stack_env, tmp_path / "policy.toml", text, own_queue=True)


@pytest.fixture
def telegram(tg: FakeTelegram, gated: Any, telegram_config: Any) -> Iterator[FakeTelegram]:
    from tertulia.bootstrap import build_router

    tg.reset()
    runner = AdapterRunner(config=telegram_config, dedupe=gated.dedupe,
                           router_for=lambda name: build_router(gated, bot_username=name)).start()  # fmt: skip
    yield tg
    runner.stop()


def test_telegram_outsiders_get_silence_in_a_group_and_one_reply_in_a_dm(telegram: FakeTelegram, gated: Any) -> None:
    tg = telegram
    stranger, admin = user(7002, "Eve"), user(7999, "Boss")
    group = tg.group(-555)
    tg.user_message(group, stranger, "/essay@tertulia_test_bot Tides")
    tg.user_message(group, stranger, "@tertulia_test_bot hello")
    tg.user_message(group, admin, "/help@tertulia_test_bot")  # an admin passes: its answer marks the turn
    tg.wait_for(lambda: tg.bot_texts(group["id"]))
    dm = tg.private_chat(stranger)
    tg.user_message(dm, stranger, "/chat hello")
    tg.user_message(dm, stranger, "hello again")
    tg.wait_for(lambda: tg.bot_texts(dm["id"]))
    time.sleep(SETTLE)
    assert tg.bot_texts(group["id"]) == [actions.help_text(COMMANDS, "en")]
    assert tg.bot_texts(dm["id"]) == [catalogue.text("policy_outsider", "en")]
    assert queued(gated) == 0 and saved_jobs(gated) == 0


@pytest.fixture
def slack(gated: Any, slack_api: FakeSlackAPI, slack_config: Any) -> Iterator[SlackHttp]:
    from tertulia.bootstrap import build_router

    with serving_slack(gated, slack_config, router=build_router(gated)) as http:  # the policy's gate
        yield http


def test_slack_outsiders_get_silence_in_a_channel_and_one_reply_in_a_dm(
    slack: SlackHttp, slack_api: FakeSlackAPI
) -> None:
    assert slack.event(mention("essay Tides", ts="1.1", channel="CIN", user="U1"))[0] == 200
    assert slack.event(mention("help", ts="1.2", channel="COUT", user="U2"))[0] == 200
    url = slack_api.response_url_for("pol1")
    assert slack.command("/essay", "Tides", channel="CIN", user="U1", response_url=url)[0] == 200
    assert slack.event(mention("help", ts="1.3", channel="CIN", user="U2"))[0] == 200  # inside: answered
    wait_until(lambda: slack_api.bot_messages("CIN"), timeout=10)
    for n in range(2):
        event = {"type": "message", "channel_type": "im", "channel": "DOUT", "user": "U1", "text": f"hi {n}",
                 "ts": f"2.{n}"}  # fmt: skip
        assert slack.event(event)[0] == 200
    wait_until(lambda: slack_api.bot_messages("DOUT"), timeout=10)
    time.sleep(SETTLE)
    assert len(slack_api.bot_messages("CIN")) == 1 and not slack_api.bot_messages("COUT")
    assert not slack_api.responses  # the slash command in a closed channel: no reply either
    assert [m.text for m in slack_api.bot_messages("DOUT")] == [catalogue.text("policy_outsider", "en")]
    assert queued(slack.services) == 0 and saved_jobs(slack.services) == 0


def test_discord_outsiders_through_the_running_bot_after_a_policy_reload(
    discord_stack: DiscordStack, redis_client: Any, settings: Any
) -> None:
    """The session's bot process re-reads its policy file: rewritten to admit only Ana,
    Bruno gets silence in the guild and one reply in a DM, and nothing is enqueued."""
    from tests.integration.slack_support import job_ids, new_jobs

    stack, path = discord_stack, bot_policy_file()
    path.write_text(f'[discord]\nusers = ["{ANA["id"]}"]\n')
    outsider = catalogue.text("policy_outsider", None)
    try:
        jobs_before = job_ids(_Session(redis_client, settings))
        dm_channel = "1400000000000000077"

        def turned_away() -> bool:  # until the bot has re-read the file (help answers before)
            if outsider in stack.rest.channel_texts(dm_channel):
                return True
            stack.say("/help", user=BRUNO, channel_id=dm_channel, guild_id=None)
            return False

        try:
            wait_until(turned_away, timeout=20, interval=0.5)
        except AssertionError:
            raise AssertionError(f"bot log:\n{stack.bot.log()[-3000:]}") from None
        bruno = stack.say(bot_mention("essay Tides"), user=BRUNO, mentions_bot=True)
        command = stack.command("essay", [option("title", "Tides")], user=BRUNO)
        stack.say("hola", user=BRUNO, channel_id=dm_channel, guild_id=None)
        answered = stack.say(bot_mention("help"), user=ANA, mentions_bot=True)
        stack.reply_to(answered)
        # The slash command was deferred at once (Discord's 3 s), then its "thinking" deleted.
        wait_until(lambda: stack.rest.calls_to("DELETE", re.escape(command["token"]) + "/messages/@original$"),
                   timeout=10)  # fmt: skip
        time.sleep(SETTLE)
        assert not "".join(stack.rest.answer_of(command["token"]))
        texts = stack.rest.channel_texts(dm_channel)
        assert texts.count(outsider) == 1 and texts[-1] == "hola"  # answered once, then silence
        replied = [(m.get("message_reference") or {}).get("message_id")
                   for m in stack.rest.channel_messages(CHANNEL_ID) if m["author"]["id"] == APPLICATION_ID]
        assert answered["id"] in replied and bruno["id"] not in replied
        session = _Session(redis_client, settings)
        assert [job.message.user for job in new_jobs(session, jobs_before)] == [ANA["id"]]  # Ana's chat only
    finally:
        path.write_text(OPEN_POLICY)
        time.sleep(1.2)  # the next test finds the bot open again


class _Session:
    """What job_ids and new_jobs read: the session's Redis, key prefix and job store."""

    def __init__(self, redis_client: Any, settings: Any) -> None:
        from tertulia.bootstrap import build_services

        self.redis, self.settings = redis_client, settings
        self.jobs = build_services(settings).jobs


def test_discord_members_carry_their_role_ids() -> None:
    import discord

    class Member:  # what discord.py gives for a guild author: ``roles`` of Role objects
        def __init__(self) -> None:
            self.roles = [discord.Object(id=11), discord.Object(id=22)]

    assert role_ids(Member()) == ("11", "22")
    assert role_ids(discord.Object(id=5)) == ()  # a DM's author is a User: no roles
