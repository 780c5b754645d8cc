"""The worker-side Telegram Responder against the fake Bot API over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bots.telegram.address import TelegramAddress
from bots.telegram.botapi import BotApi
from bots.telegram.delivery import DRAFTS_NAMESPACE, TelegramDelivery, file_url
from core.delivery import StreamingReply
from core.errors import InputError, RetryAfter
from core.jobs import Job
from core.messages import Attachment, InboundMessage
from fakes.telegram_api import TOKEN, FakeTelegram
from fakes.telegram_updates import user
from tests.conftest import free_port

pytestmark = pytest.mark.integration
ANA = user(21, "Ana")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def tg(fake: FakeTelegram) -> FakeTelegram:
    fake.reset()
    return fake


@pytest.fixture
def delivery(fake: FakeTelegram, services: Any) -> Iterator[TelegramDelivery]:
    api = BotApi(api_url=fake.url, token=TOKEN)
    yield TelegramDelivery(api=api, drafts=services.memory(DRAFTS_NAMESPACE, 600))
    api.close()


def job_for(chat: dict[str, Any], *, thread: int | None = None, reply: dict[str, Any] | None = None,
            source: str | None = None) -> Job:
    address = TelegramAddress(chat_id=int(chat["id"]), private=chat["type"] == "private", message_thread_id=thread,
                              **(reply or {}))
    message = InboundMessage(platform="telegram", workspace="1", channel=str(chat["id"]), user="21", text="/chat x",
                             is_dm=chat["type"] == "private", address=address)
    return Job(kind="chat", message=message, scope="s", args={"source": source} if source else {})


def methods(tg: FakeTelegram) -> list[str]:
    return [c.method for c in tg.calls]


def test_private_chat_streams_into_a_draft_and_persists_with_send_message(tg: FakeTelegram,
                                                                          delivery: TelegramDelivery) -> None:
    chat = tg.private_chat(ANA)
    r = delivery.responder(job_for(chat))
    r.start()
    ref = r.post("Hel")
    r.update(ref, "Hello **wor")
    r.finish(ref, "Hello **world**")
    assert methods(tg) == ["sendchataction", "sendmessagedraft", "sendmessagedraft", "sendmessage"]
    drafts = tg.calls_of("sendMessageDraft")
    assert drafts[0].params["draft_id"] == drafts[1].params["draft_id"] != 0
    final = tg.calls_of("sendMessage")[0].params
    assert final["text"] == "Hello world"
    assert final["entities"] == [{"type": "bold", "offset": 6, "length": 5}]
    assert tg.bot_texts(chat["id"]) == ["Hello world"]
    assert r.update_interval == 1.0


def test_group_posts_once_then_edits_and_skips_identical_finals(tg: FakeTelegram,
                                                               delivery: TelegramDelivery) -> None:
    group = tg.group(-100200)
    asked = tg.user_message(group, ANA, "/chat hi")["message"]["message_id"]
    r = delivery.responder(job_for(group, reply={"reply_to": int(asked)}))
    ref = r.post("Part")
    r.update(ref, "Part one")
    r.update(ref, "Part one\n")  # renders the same: Telegram says "not modified", which is fine
    r.finish(ref, "Part one\n")
    assert methods(tg) == ["sendmessage", "editmessagetext", "editmessagetext"]
    assert str(tg.calls_of("editMessageText", ok=False)[0].error).startswith("Bad Request: message is not modified")
    assert tg.calls_of("sendMessage")[0].params["reply_parameters"]["message_id"] == asked
    assert tg.bot_texts(group["id"]) == ["Part one"]
    assert r.update_interval == 3.0  # 20 messages a minute per group
    assert r.destination == "-100200"  # the runner adds "telegram:" once


def test_forum_topic_answers_stay_in_the_topic(tg: FakeTelegram, delivery: TelegramDelivery) -> None:
    forum = tg.group(-100300, forum=True)
    topic = tg.create_topic(forum, "Ops", ANA)
    r = delivery.responder(job_for(forum, thread=topic))
    r.start()
    r.finish(r.post("in the topic"), "in the topic")
    assert tg.calls_of("sendChatAction")[0].params["message_thread_id"] == topic
    assert tg.bot_texts(forum["id"], thread_id=topic) == ["in the topic"]


def test_rate_limit_becomes_retry_after(tg: FakeTelegram, delivery: TelegramDelivery) -> None:
    group = tg.group(-100400)
    r = delivery.responder(job_for(group))
    ref = r.post("a")
    tg.fail_next("editMessageText", error_code=429, description="Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter) as err:
        r.update(ref, "ab")
    assert err.value.seconds == 3
    r.finish(ref, "ab")
    assert tg.bot_texts(group["id"]) == ["ab"]


def test_rejected_entities_are_resent_as_plain_text(tg: FakeTelegram, delivery: TelegramDelivery) -> None:
    chat = tg.private_chat(ANA)
    r = delivery.responder(job_for(chat))
    ref = r.post("x")
    tg.fail_next("sendMessage", error_code=400, when_entities=True,
                 description="Bad Request: can't parse entities: Can't find end of the entity at byte offset 4")
    r.finish(ref, "**bold** and `code`")
    assert tg.bot_texts(chat["id"]) == ["**bold** and `code`"]
    last = tg.calls_of("sendMessage")[-1].params
    assert "entities" not in last and "parse_mode" not in last


def test_a_10000_character_answer_arrives_as_ordered_messages(tg: FakeTelegram, delivery: TelegramDelivery,
                                                               services: Any) -> None:
    chat = tg.private_chat(ANA)
    paragraphs = [f"Paragraph {i:03d}: " + "lorem ipsum dolor sit amet " * 6 for i in range(60)]
    paragraphs.insert(30, "```python\n" + "\n".join(f"x_{i} = {i}  # <&>" for i in range(40)) + "\n```")
    answer = "\n\n".join(paragraphs)
    assert len(answer) >= 10_000
    responder = delivery.responder(job_for(chat))
    reply = StreamingReply(responder=responder, budget=services.budget, budget_key=f"test:{uuid.uuid4().hex}")
    reply.feed(answer[:5000])
    reply.finish(answer)
    texts = tg.bot_texts(chat["id"])
    assert len(texts) >= 3
    assert all(len(t) <= 4096 for t in texts)
    joined = "\n".join(texts)
    positions = [joined.index(f"Paragraph {i:03d}:") for i in range(60)]
    assert positions == sorted(positions)
    assert "x_39 = 39  # <&>" in joined
    assert not tg.calls_of("sendMessage", ok=False)


def test_fetch_file_downloads_through_get_file(tg: FakeTelegram, delivery: TelegramDelivery) -> None:
    document = tg.add_file(b"hello from a file", name="notes.txt")
    attachment = Attachment(name="notes.txt", size=document["file_size"], url=file_url(document["file_id"]))
    assert delivery.fetch_file(attachment, max_bytes=1000) == b"hello from a file"
    with pytest.raises(InputError) as err:
        delivery.fetch_file(attachment, max_bytes=5)
    assert err.value.key == "file_too_large"


def test_files_over_the_cloud_limit_get_a_clear_error(tg: FakeTelegram, delivery: TelegramDelivery) -> None:
    document = tg.add_file(b"x", name="big.pdf", size=25 * 1024 * 1024)
    attachment = Attachment(name="big.pdf", size=document["file_size"], url=file_url(document["file_id"]))
    with pytest.raises(InputError) as err:
        delivery.fetch_file(attachment, max_bytes=100 * 1024 * 1024)
    assert err.value.key == "file_too_large" and err.value.params["limit"] == "20 MB"


def test_read_source_returns_the_stored_reply(tg: FakeTelegram, delivery: TelegramDelivery) -> None:
    group = tg.group(-100500)
    job = job_for(group, reply={"replied_text": "Numbers are up.", "replied_author": "Ben"}, source="reply")
    assert delivery.read_source(job) == "Ben: Numbers are up."
    with pytest.raises(InputError):
        delivery.read_source(job_for(group, source="reply"))
