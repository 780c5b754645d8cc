"""Reply addresses: typed per platform, carried by the core unread, and back from JSON (as
a job read back from Redis) with their types intact."""

from __future__ import annotations

import json

import pytest

from bots.discord.address import DiscordAddress, Interaction
from bots.slack.address import SlackAddress
from bots.telegram.address import TelegramAddress
from core.jobs import Job
from core.messages import InboundMessage, NoAddress, ReplyAddress
from tertulia.bootstrap import PlatformAddresses

ADDRESSES: list[tuple[str, ReplyAddress]] = [
    ("slack", SlackAddress(thread_ts="100.1", command="/essay Tides", response_url="https://hooks.slack.com/x")),
    ("discord", DiscordAddress(channel_id=2200, interaction=Interaction(
        application_id=1100, interaction_id=77, token="t", created_at=1.5, response_message_id=5000))),
    ("discord", DiscordAddress(channel_id=2200, message_id=4000, referenced_message_id=3999)),
    ("telegram", TelegramAddress(chat_id=-100200, message_thread_id=7, reply_to=42, replied_text="hi",
                                 replied_author="Ben")),
    ("console", NoAddress()),
]


@pytest.mark.parametrize(("platform", "address"), ADDRESSES)
def test_an_address_survives_the_job_store_with_its_types(platform: str, address: ReplyAddress) -> None:
    message = InboundMessage(platform=platform, workspace="w", channel="c", user="u", text="/chat hi", address=address)
    job = Job(kind="chat", message=message, scope="s", args={"text": "hi"})
    stored = json.loads(json.dumps(job.to_json()))  # what Redis holds
    back = Job.from_json(stored, addresses=PlatformAddresses())
    assert back == job and type(back.message.address) is type(address)


def test_ids_stay_numbers_in_json() -> None:
    data = TelegramAddress(chat_id=-100200, reply_to=42).to_json()
    assert data["chat_id"] == -100200 and data["reply_to"] == 42
