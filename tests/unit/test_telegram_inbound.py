"""Telegram messages -> InboundMessage: scopes, addressing, replies, documents."""

from __future__ import annotations

from typing import Any

from telegram import Update

from bots.telegram.address import TelegramAddress
from bots.telegram.inbound import Inbound, to_inbound
from core.commands import Command
from core.scope import scope_key
from fakes.telegram_api import BOT
from fakes.telegram_updates import UpdateFactory, user

ANA = user(11, "Ana", language_code="es")
BEN = user(12, "Ben")


def world() -> UpdateFactory:
    factory = UpdateFactory(bot=BOT)
    factory.reset_updates()
    return factory


def convert(update: dict[str, Any]) -> Inbound | None:
    parsed = Update.de_json(update, None)
    assert parsed is not None and parsed.message is not None
    return to_inbound(parsed.message, bot_id=int(str(BOT["id"])), bot_username=str(BOT["username"]))


def test_private_chat_is_the_users_scope_and_always_addressed() -> None:
    w = world()
    got = convert(w.user_message(w.private_chat(ANA), ANA, "hola"))
    assert got is not None
    m = got.message
    assert (m.is_dm, m.addressed, m.text, m.locale, m.user_name) == (True, True, "hola", "es", "Ana")
    assert scope_key(m) == f"telegram:{BOT['id']}:dm:11"
    assert m.address == TelegramAddress(chat_id=11, private=True)


def test_group_plain_chatter_is_ignored_but_commands_pass_raw() -> None:
    w = world()
    group = w.group(-100500)
    assert convert(w.user_message(group, ANA, "lunch anyone?")) is None
    got = convert(w.user_message(group, ANA, "/chat@tertulia_test_bot hi there"))
    assert got is not None
    assert got.message.text == "/chat@tertulia_test_bot hi there"
    assert not got.message.is_dm and got.message.thread is None
    assert got.message.address.reply_to == int(str(got.message.message_id))  # type: ignore[attr-defined]
    assert got.command == Command(name="chat", args={"text": "hi there"})  # parsed once, here


def test_group_mention_is_addressed_and_the_mention_is_removed() -> None:
    w = world()
    got = convert(w.user_message(w.group(-100500), ANA, "@tertulia_test_bot what is a tertulia?"))
    assert got is not None
    assert got.message.addressed and got.message.text == "what is a tertulia?"


def test_group_mention_of_another_bot_is_ignored() -> None:
    w = world()
    assert convert(w.user_message(w.group(-100500), ANA, "@some_other_bot hello")) is None


def test_reply_to_the_bot_is_addressed() -> None:
    w = world()
    group = w.group(-100500)
    answer = w.bot_message(group, text="I am a bot")
    got = convert(w.user_message(group, ANA, "tell me more", reply_to=answer["message_id"]))
    assert got is not None and got.message.addressed


def test_forum_topics_are_separate_scopes_and_topic_creation_is_not_a_reply() -> None:
    w = world()
    forum = w.group(-100900, forum=True)
    first = w.create_topic(forum, "Design", ANA)
    second = w.create_topic(forum, "Ops", ANA)
    a = convert(w.user_message(forum, ANA, "/summarize", thread_id=first))
    b = convert(w.user_message(forum, BEN, "/chat hi", thread_id=second))
    assert a is not None and b is not None
    assert a.message.thread == str(first) and b.message.thread == str(second)
    assert scope_key(a.message) != scope_key(b.message)
    assert a.message.address == TelegramAddress(chat_id=forum["id"], message_thread_id=first,
                                                reply_to=int(str(a.message.message_id)))
    assert a.message.context is None  # the topic's creation message is not something to summarise


def test_summarize_reply_to_text_stores_the_text_for_the_worker() -> None:
    w = world()
    group = w.group(-100500)
    original = w.user_message(group, BEN, "The quarterly numbers are up 4%.")
    got = convert(w.user_message(group, ANA, "/summarize", reply_to=original["message"]["message_id"]))
    assert got is not None
    assert got.message.context == "reply"
    assert got.message.address.replied_text == "The quarterly numbers are up 4%."  # type: ignore[attr-defined]
    assert got.message.address.replied_author == "Ben"  # type: ignore[attr-defined]


def test_summarize_reply_to_a_document_attaches_it() -> None:
    w = world()
    group = w.group(-100500)
    document = {"file_name": "notes.md", "mime_type": "text/markdown", "file_id": "BQAC-1",
                "file_unique_id": "AgAD1", "file_size": 1234}
    original = w.user_message(group, BEN, None, document=document)
    got = convert(w.user_message(group, ANA, "/summarize", reply_to=original["message"]["message_id"]))
    assert got is not None
    [attachment] = got.message.attachments
    assert (attachment.name, attachment.size, attachment.url) == ("notes.md", 1234, "telegram-file:BQAC-1")


def test_document_with_a_command_caption_is_attached() -> None:
    w = world()
    document = {"file_name": "a.txt", "file_id": "F1", "file_unique_id": "U1", "file_size": 10}
    got = convert(w.user_message(w.private_chat(ANA), ANA, None, caption="/summarize", document=document))
    assert got is not None
    assert got.message.text == "/summarize" and got.message.attachments[0].url == "telegram-file:F1"


def test_messages_from_bots_are_ignored() -> None:
    w = world()
    robot = {**user(99, "Robot"), "is_bot": True}
    assert convert(w.user_message(w.private_chat(robot), robot, "/chat hi")) is None


def test_a_document_with_chat_joins_the_turn_but_not_with_a_command_that_takes_no_files() -> None:
    w = world()
    document = {"file_name": "a.txt", "file_id": "F1", "file_unique_id": "U1", "file_size": 10}
    got = convert(w.user_message(w.private_chat(ANA), ANA, None, caption="/chat what is this?", document=document))
    assert got is not None and [a.name for a in got.message.attachments] == ["a.txt"]
    plain = convert(w.user_message(w.private_chat(ANA), ANA, None, caption="what is this?", document=document))
    assert plain is not None and plain.command is None and [a.name for a in plain.message.attachments] == ["a.txt"]
    other = convert(w.user_message(w.private_chat(ANA), ANA, None, caption="/essay Tides", document=document))
    assert other is not None and other.message.attachments == ()


def test_a_photo_with_a_caption_is_chat_with_its_largest_size() -> None:
    w = world()
    sizes = [{"file_id": "small", "file_unique_id": "s", "file_size": 10, "width": 90, "height": 60},
             {"file_id": "large", "file_unique_id": "l", "file_size": 900, "width": 900, "height": 600}]
    got = convert(w.user_message(w.private_chat(ANA), ANA, None, caption="what is this?", photo=sizes))
    assert got is not None and got.command is None
    (photo,) = got.message.attachments
    assert photo.url == "telegram-file:large" and photo.mime_type == "image/jpeg" and photo.size == 900


SIZES = [{"file_id": "small", "file_unique_id": "s", "file_size": 10, "width": 90, "height": 60},
         {"file_id": "large", "file_unique_id": "l", "file_size": 900, "width": 900, "height": 600}]  # fmt: skip


def test_a_photo_without_a_caption_is_chat_about_it_as_on_every_platform() -> None:
    w = world()
    got = convert(w.user_message(w.private_chat(ANA), ANA, None, photo=SIZES))  # Ana speaks Spanish
    assert got is not None and got.command == Command(name="chat", args={"text": "¿Qué hay en esta imagen?"})
    (photo,) = got.message.attachments
    assert photo.url == "telegram-file:large" and photo.mime_type == "image/jpeg"


def test_a_document_without_a_caption_is_read_and_a_file_in_group_chatter_is_not_for_us() -> None:
    w = world()
    document = {"file_name": "a.txt", "file_id": "F1", "file_unique_id": "U1", "file_size": 10}
    got = convert(w.user_message(w.private_chat(ANA), ANA, None, document=document))
    assert got is not None and got.command == Command(name="summarize")
    assert [a.name for a in got.message.attachments] == ["a.txt"]
    assert convert(w.user_message(w.group(-100600), ANA, None, photo=SIZES)) is None
