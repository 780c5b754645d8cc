"""A retry that produced a shorter answer (or an error that replaced a long one) leaves no
stale piece behind: ``StreamingReply.finish`` deletes every message beyond the new text,
through each platform's real delete call against its protocol fake, and the job's stored
refs shrink with it.

Each scenario streams a long first attempt (several messages), then, as a retried job does,
a new Responder and StreamingReply start from the stored refs and finish with one line.
"""

# ruff: noqa: F811  (pytest fixtures imported from slack_support are redefined as arguments)
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bots.console.delivery import ConsoleDelivery
from bots.discord.address import DiscordAddress, Interaction
from bots.discord.chains import ReplyChains
from bots.discord.delivery import DiscordResponder
from bots.discord.rest import DiscordRest
from bots.slack.address import SlackAddress
from bots.slack.api import make_client
from bots.slack.config import SlackConfig
from bots.slack.delivery import THREADS_NAMESPACE, SlackDelivery
from bots.telegram.address import TelegramAddress
from bots.telegram.botapi import BotApi
from bots.telegram.delivery import DRAFTS_NAMESPACE, TelegramDelivery
from core.delivery import STALE_MARKER, StreamingReply
from core.jobs import Job
from core.messages import InboundMessage
from core.ports import Responder
from core.scope import scope_key
from fakes.discord_server import API, APPLICATION_ID, BOT_TOKEN, CHANNEL_ID, GUILD_ID, FakeDiscord
from fakes.slack_api import TEAM_ID, FakeSlackAPI
from fakes.telegram_api import TOKEN, FakeTelegram
from fakes.waiting import free_port
from tests.integration.slack_support import slack_api, slack_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

SHORT = "A short answer this time."


def long_text(pieces: int, limit: int) -> str:
    """Paragraphs enough to fill ``pieces`` messages of ``limit`` characters and start
    another: streaming lands every piece but the growing last one for sure (that one waits
    for a free budget slot)."""
    paragraph = "Words of an answer that will be cut short by a fault. " * 8
    text = ""
    while len(text) < pieces * limit + limit // 2:
        text += paragraph.strip() + "\n\n"
    return text.strip()


class Refs:
    """The job's stored refs, as JobStore keeps them between attempts."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    def save(self, refs: list[str]) -> None:
        self.saved = list(refs)


class StoredRefs(Refs):
    """The job's refs in the real job store: where the console's posts write them, in their
    own transaction (core.ports.PostsWithRefs), as a worker's runner reads them."""

    def __init__(self, jobs: Any, job_id: str) -> None:
        self._jobs, self._job_id = jobs, job_id

    @property  # type: ignore[override]
    def saved(self) -> list[str]:
        return list(self._jobs.load_refs(self._job_id))

    def save(self, refs: list[str]) -> None:
        self._jobs.save_refs(self._job_id, refs)


def attempt(responder: Responder, services: Any, refs: Refs, *, stream: str | None, final: str | None) -> None:
    reply = StreamingReply(responder=responder, budget=services.budget, budget_key=f"test:{uuid.uuid4().hex}",
                           refs=refs.saved, on_refs=refs.save)
    if stream is not None:  # the first attempt streams, then fails: no finish, as the runner does
        for end in range(500, len(stream) + 500, 500):
            reply.feed(stream[:end])
    if final is not None:
        reply.finish(final)
    reply.close()


# --- Slack -----------------------------------------------------------------------------------


@pytest.mark.parametrize("refused", [False, True], ids=["deleted", "refused-so-marked"])
def test_slack_deletes_the_pieces_of_a_longer_attempt(services: Any, slack_api: FakeSlackAPI, refused: bool,
                                                      slack_config: SlackConfig) -> None:
    slack = SlackDelivery(client=make_client(slack_config), config=slack_config,
                          threads=services.memory(THREADS_NAMESPACE, 3600))
    message = InboundMessage(platform="slack", workspace=f"{TEAM_ID}-{time.time_ns()}", channel="C1", user="U1",
                             text="/chat hi", thread="1700000000.000001",
                             address=SlackAddress(thread_ts="1700000000.000001"))
    job = Job(kind="chat", message=message, scope=scope_key(message))
    refs = Refs()
    first = slack.responder(job)
    attempt(first, services, refs, stream=long_text(3, first.max_chars), final=None)
    stale = len(refs.saved) - 1
    assert stale >= 2
    if refused:  # e.g. a workspace whose retention policy forbids deleting
        slack_api.fail("chat.delete", status=200, retry_after=None, times=stale, error="cant_delete_message")
    attempt(slack.responder(job), services, refs, stream=None, final=SHORT)
    shown = [m.text for m in slack_api.thread("C1", "1700000000.000001")]
    assert shown == ([SHORT] + [STALE_MARKER] * stale if refused else [SHORT])
    assert len(refs.saved) == 1 and slack_api.count("chat.delete", channel="C1") == stale


# --- Discord ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscord]:
    server = FakeDiscord()
    server.start(free_port())
    yield server
    server.stop()


INTERACTION, CHANNEL = "interaction", "channel"


@pytest.mark.parametrize("mode", [CHANNEL, INTERACTION])
def test_discord_deletes_the_pieces_of_a_longer_attempt(services: Any, discord: FakeDiscord, mode: str) -> None:
    discord.reset()
    rest = DiscordRest(base_url=discord.base_url + API, token=BOT_TOKEN)
    token = uuid.uuid4().hex
    address = DiscordAddress(channel_id=int(CHANNEL_ID))
    if mode == INTERACTION:
        discord.register_interaction(interaction_id="77", token=token, channel_id=CHANNEL_ID, guild_id=GUILD_ID)
        rest.request("POST", f"/interactions/77/{token}/callback", json={"type": 5}, auth=False)  # "thinking..."
        address = DiscordAddress(channel_id=int(CHANNEL_ID), interaction=Interaction(
            application_id=int(APPLICATION_ID), interaction_id=77, token=token, created_at=time.time()))
    message = InboundMessage(platform="discord", workspace=GUILD_ID, channel=CHANNEL_ID, user="U1", text="/chat hi",
                             address=address)
    job = Job(kind="chat", message=message, scope="s")
    chains = ReplyChains(memory=services.memory("discord-chain", 3600))
    refs = Refs()

    def responder() -> DiscordResponder:
        return DiscordResponder(rest=rest, job=job, chains=chains, stored_refs=refs.saved)

    before = set(discord.messages)
    attempt(responder(), services, refs, stream=long_text(3, 2000), final=None)
    stale = len(refs.saved) - 1
    assert stale >= 2
    attempt(responder(), services, refs, stream=None, final=SHORT)
    ours = [discord.messages[m]["content"] for m in discord.messages if m not in before]
    if mode == INTERACTION:
        assert discord.answer_of(token) == [SHORT]
        assert len(discord.calls_to("DELETE", r"/webhooks/")) == stale
    else:
        assert ours == [SHORT]
        assert len(discord.calls_to("DELETE", r"/channels/.+/messages/")) == stale
    assert len(refs.saved) == 1
    rest.close()


# --- Telegram ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    server = FakeTelegram(port=free_port()).start()
    yield server
    server.stop()


def test_telegram_deletes_the_pieces_of_a_longer_attempt(services: Any, telegram: FakeTelegram) -> None:
    telegram.reset()
    telegram.enforce_group_limit = False
    group = telegram.group(-100777)
    api = BotApi(api_url=telegram.url, token=TOKEN)
    message = InboundMessage(platform="telegram", workspace="1", channel=str(group["id"]), user="21",
                             text="/chat x", address=TelegramAddress(chat_id=int(group["id"])))
    job = Job(kind="chat", message=message, scope="s")
    refs = Refs()
    delivery = TelegramDelivery(api=api, drafts=services.memory(DRAFTS_NAMESPACE, 600))
    attempt(delivery.responder(job), services, refs, stream=long_text(2, 4096), final=None)
    stale = len(refs.saved) - 1
    assert stale >= 1 and len(telegram.bot_texts(group["id"])) == stale + 1
    attempt(delivery.responder(job), services, refs, stream=None, final=SHORT)
    assert telegram.bot_texts(group["id"]) == [SHORT]
    assert [c.method for c in telegram.calls].count("deletemessage") == stale
    assert len(refs.saved) == 1
    api.close()


# --- console ----------------------------------------------------------------------------------


def test_console_deletes_the_pieces_of_a_longer_attempt(services: Any) -> None:
    session = uuid.uuid4().hex[:12]
    delivery = ConsoleDelivery(events=services.events, update_interval=0.0)
    message = InboundMessage(platform="console", workspace="local", channel=session, user="u", text="/chat x")
    job = Job(kind="chat", message=message, scope="s")
    refs = StoredRefs(services.jobs, job.id)
    first = delivery.responder(job)
    first.max_chars = 1000  # a terminal has no limit; a small one makes pieces
    attempt(first, services, refs, stream=long_text(3, 1000), final=None)
    assert len(refs.saved) >= 3
    second = delivery.responder(job)
    second.max_chars = 1000
    attempt(second, services, refs, stream=None, final=SHORT)
    events: list[dict[str, str]] = []
    after = "0-0"
    while batch := services.events.read(session, after=after, block_seconds=0.001):
        events.extend(event for _id, event in batch)
        after = batch[-1][0]
    deleted = [e["ref"] for e in events if e["op"] == "delete"]
    assert len(refs.saved) == 1 and sorted(deleted) == sorted(set(e["ref"] for e in events if e["op"] == "post")
                                                             - set(refs.saved))
