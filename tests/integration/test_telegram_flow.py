"""Telegram end to end: the fake Bot API -> the real PTB adapter (polling) -> router ->
Redis -> a real Celery worker -> the fake TGI server -> back through the Bot API."""

# ruff: noqa: F811  (pytest fixtures imported from telegram_support are redefined as arguments)
from __future__ import annotations

import contextlib
import itertools
import re
from typing import Any

import pytest

from bots.telegram.formatting import render
from core import actions, catalogue
from core.table import COMMANDS
from fakes.telegram_api import GROUP_MESSAGES_PER_MINUTE, MAX_TEXT, FakeTelegram
from fakes.telegram_runner import AdapterRunner
from fakes.telegram_validate import check_entities, utf16_len
from tests.integration.telegram_support import bot, new_id, person, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def test_commands_are_published_in_english_and_spanish(bot: AdapterRunner) -> None:
    names = [c["command"] for c in bot.menus[""]]
    assert {"start", "help", "essay", "summarize", "translate", "chat", "entities", "code", "ask", "reset", "model",
            "models", "persona", "usage", "continue", "stop"} == set(names)
    spanish = {c["command"]: c["description"] for c in bot.menus["es"]}
    english = {c["command"]: c["description"] for c in bot.menus[""]}
    assert spanish["essay"] != english["essay"]


JOB_COMMANDS = [
    "/essay The tides of Fundy",
    "/summarize The bay has the highest tides in the world. Fishermen plan around them.",
    "/translate es Good morning, friends",
    "/chat hello there",
    "/entities Ada Lovelace met Charles Babbage in London.",
    "/code python print hello world",
    "/models",
]


@pytest.mark.parametrize("command", JOB_COMMANDS, ids=lambda c: c.split()[0])
def test_each_job_command_answers_in_a_private_chat_by_draft(world: FakeTelegram, tgi: Any, command: str) -> None:
    tgi.set_delays(between_tokens=0.02)
    ana = person()
    chat = world.private_chat(ana)
    world.user_message(chat, ana, command)
    world.wait_for(lambda: world.bot_texts(chat["id"]))
    drafts = world.calls_of("sendMessageDraft", chat_id=chat["id"])
    finals = world.calls_of("sendMessage", chat_id=chat["id"])
    assert drafts, "the answer should stream into a draft first"
    assert len(finals) == 1 and drafts[0].at < finals[0].at
    assert world.calls_of("sendChatAction", chat_id=chat["id"])
    assert not world.calls_of("sendMessage", chat_id=chat["id"], ok=False)
    assert not world.calls_of("sendMessageDraft", chat_id=chat["id"], ok=False)


@pytest.mark.parametrize("command", ["/help", "/start", "/reset", "/model tgi", "/essay"])
def test_immediate_commands_reply_without_a_job(world: FakeTelegram, tgi: Any, command: str) -> None:
    ana = person(language="es")
    chat = world.private_chat(ana)
    world.user_message(chat, ana, command)
    [text] = world.wait_for(lambda: world.bot_texts(chat["id"]))
    help_text = actions.help_text(COMMANDS, "es")
    expected = {"/help": help_text, "/start": help_text,
                "/reset": catalogue.text("reset_done", "es"), "/essay": catalogue.text("usage.essay", "es")}
    assert text == expected.get(command, catalogue.text("model_set", "es", model="tgi"))
    assert not world.calls_of("sendMessageDraft") and not tgi.generation_requests()


def test_group_answer_arrives_by_edits_within_the_group_limit(world: FakeTelegram, tgi: Any, services: Any) -> None:
    reply = " ".join(f"word{i}" for i in range(90))
    tgi.script(reply)
    tgi.set_delays(between_tokens=0.08)  # a ~7 s stream
    ana = person()
    group = world.group(-new_id())
    world.user_message(group, ana, "/chat@tertulia_test_bot tell me a long story")
    world.wait_for(lambda: world.bot_texts(group["id"]) == [reply], timeout=40)
    sends = world.calls_of("sendMessage", chat_id=group["id"])
    edits = world.calls_of("editMessageText", chat_id=group["id"])
    assert len(sends) == 1 and len(edits) >= 1
    # The group's shared budget, named once by platform: telegram:<chat>, not telegram:telegram:<chat>.
    assert services.redis.exists(services.keys.rate(f"telegram:{group['id']}"))
    assert not services.redis.exists(services.keys.rate(f"telegram:telegram:{group['id']}"))
    times = sorted(c.at for c in sends + edits)
    assert all(b - a >= 2.5 for a, b in itertools.pairwise(times)), times  # 20 a minute: one per 3 s
    assert len([t for t in times if t - times[0] < 60]) <= GROUP_MESSAGES_PER_MINUTE
    assert not world.calls_of("sendMessageDraft", chat_id=group["id"])
    assert not world.calls_of("sendMessage", chat_id=group["id"], ok=False)
    failed_edits = world.calls_of("editMessageText", chat_id=group["id"], ok=False)
    assert all("not modified" in (c.error or "") for c in failed_edits)


def test_plain_group_chatter_is_ignored_but_a_mention_is_chat(world: FakeTelegram, tgi: Any) -> None:
    ana = person()
    group = world.group(-new_id())
    world.user_message(group, ana, "lunch at noon?")
    world.user_message(group, ana, "@tertulia_test_bot what is a tertulia?")
    world.wait_for(lambda: world.bot_texts(group["id"]) == ["Echo: what is a tertulia?"], timeout=30)
    assert len(tgi.generation_requests()) == 1


def test_forum_topics_keep_separate_memory(world: FakeTelegram, tgi: Any) -> None:
    ana = person()
    forum = world.group(-new_id(), forum=True)
    design, ops = world.create_topic(forum, "Design", ana), world.create_topic(forum, "Ops", ana)

    def ask(topic: int, text: str, answers: int) -> str:
        world.user_message(forum, ana, text, thread_id=topic)
        world.wait_for(lambda: len(world.bot_texts(forum["id"], thread_id=topic)) == answers, timeout=30)
        world.wait_for(lambda: len(tgi.generation_requests()) >= len(prompts) + 1)
        prompts.append(tgi.prompts()[-1])
        return prompts[-1]

    prompts: list[str] = []
    ask(design, "/chat My name is Zebulon", 1)
    assert "Zebulon" not in ask(ops, "/chat What is my name?", 1)
    assert "Zebulon" in ask(design, "/chat What is my name?", 2)


def test_a_replied_to_document_is_summarised(world: FakeTelegram, tgi: Any) -> None:
    ana, ben = person(), person("Ben")
    group = world.group(-new_id())
    content = b"Llamas are domesticated South American camelids used as pack animals by Andean cultures."
    document = world.add_file(content, name="llamas.txt")
    shared = world.user_message(group, ben, None, document=document)
    tgi.script("Llamas are Andean pack animals.")
    world.user_message(group, ana, "/summarize", reply_to=shared["message"]["message_id"])
    world.wait_for(lambda: world.bot_texts(group["id"]) == ["Llamas are Andean pack animals."], timeout=30)
    assert world.calls_of("getFile")
    assert "domesticated South American camelids" in tgi.prompts()[-1]


def test_a_replied_to_message_is_summarised(world: FakeTelegram, tgi: Any) -> None:
    ana, ben = person(), person("Ben")
    group = world.group(-new_id())
    said = world.user_message(group, ben, "The release moves to Thursday because the audit found two bugs.")
    world.user_message(group, ana, "/summarize", reply_to=said["message"]["message_id"])
    world.wait_for(lambda: world.bot_texts(group["id"]), timeout=30)
    assert "the audit found two bugs" in world.wait_for(lambda: tgi.prompts())[-1]


def test_ask_about_a_replied_to_message(world: FakeTelegram, tgi: Any) -> None:
    ana, ben = person(), person("Ben")
    group = world.group(-new_id())
    said = world.user_message(group, ben, "The release moves to Thursday because the audit found two bugs.")
    tgi.script("It moved because the audit found two bugs.")
    world.user_message(group, ana, "/ask why did the release move?", reply_to=said["message"]["message_id"])
    world.wait_for(lambda: world.bot_texts(group["id"]) == ["It moved because the audit found two bugs."], timeout=30)
    prompt = tgi.prompts()[-1]
    assert "Question: why did the release move?" in prompt and "Ben: The release moves to Thursday" in prompt


def test_a_document_over_the_cloud_limit_gets_a_clear_reply(world: FakeTelegram, tgi: Any) -> None:
    ana = person()
    chat = world.private_chat(ana)
    document = world.add_file(b"x", name="huge.pdf", mime_type="application/pdf", size=25 * 1024 * 1024)
    world.user_message(chat, ana, None, caption="/summarize", document=document)
    [text] = world.wait_for(lambda: world.bot_texts(chat["id"]))
    assert "huge.pdf" in text and "20 MB" in text
    assert not tgi.generation_requests()


NASTY = (
    "Symbols `_*[]()~>#+-=|{}.!<&` and in prose: a < b && c > d, 2*3=6, snake_case_name, (x) [y] {z} "
    "#tag +1 = | ! ~5 <div> 3.14!\n\n"
    "````markdown\nExample:\n```python\nprint('a<b & c>d')  # _*[]()~>#+-=|{}.!\n```\n````\n\n"
    "Inline `<&>_*[]` and **bold <b>not html</b> & more**. Done.\n"
)


@pytest.mark.parametrize("where", ["private", "group"])
def test_markdown_full_of_special_characters_is_delivered_intact(world: FakeTelegram, tgi: Any, where: str) -> None:
    tgi.script(NASTY)
    ana = person()
    chat = world.private_chat(ana) if where == "private" else world.group(-new_id())
    world.user_message(chat, ana, "/chat show me symbols")
    [expected] = render(NASTY)
    [text] = world.wait_for(lambda: world.bot_texts(chat["id"]) == [expected.text] and world.bot_texts(chat["id"]),
                            timeout=30)
    assert "Symbols _*[]()~>#+-=|{}.!<& and in prose" in text
    assert "a < b && c > d, 2*3=6, snake_case_name, (x) [y] {z} #tag +1 = | ! ~5 <div> 3.14!" in text
    assert "```python\nprint('a<b & c>d')  # _*[]()~>#+-=|{}.!\n```" in text  # the inner fence, verbatim
    assert "<&>_*[]" in text and "bold <b>not html</b> & more" in text
    final = (world.calls_of("sendMessage", chat_id=chat["id"]) + world.calls_of("editMessageText", chat_id=chat["id"]))
    last = max(final, key=lambda c: c.at).params
    check_entities(last["text"], last["entities"])
    assert {"pre", "code", "bold"} <= {e["type"] for e in last["entities"]}
    failed = [c for c in world.calls if not c.ok and c.params.get("chat_id") == chat["id"]]
    assert all("not modified" in (c.error or "") for c in failed), [c.error for c in failed]


def test_a_redelivered_update_runs_once(world: FakeTelegram, tgi: Any) -> None:
    ana = person()
    chat = world.private_chat(ana)
    update = world.user_message(chat, ana, "/chat count me once")
    world.redeliver(update)  # the same update_id twice in one batch, as after a lost confirmation
    world.wait_for(lambda: world.bot_texts(chat["id"]))
    world.wait_for(lambda: not world.updates, timeout=15)  # the poller has confirmed both
    world.user_message(chat, ana, "/chat and now me")
    world.wait_for(lambda: len(world.bot_texts(chat["id"])) == 2)
    assert world.bot_texts(chat["id"]) == ["Echo: count me once", "Echo: and now me"]
    assert len(tgi.generation_requests()) == 2


CODE_LINES = [f"row_{i:03d} = fold({i}) * 0.{i % 10} + 1  # <&> {i:03d}" for i in range(225)]


def long_markdown_answer() -> str:
    """~10,000 characters of model markdown: a heading, bold prose, and one fenced code
    block of 225 lines (~8,800 characters) that has to be cut across messages."""
    before = [f"Paragraph {i:02d}: **step {i}** keeps the ledger balanced and the totals honest." for i in range(6)]
    after = [f"Closing {i:02d}: the rows above are folded once, in order, then summed." for i in range(6)]
    fence = "```python\n" + "\n".join(CODE_LINES) + "\n```"
    return "## Ledger plan\n\n" + "\n\n".join(before) + "\n\n" + fence + "\n\n" + "\n\n".join(after) + "\n"


def words(text: str) -> list[str]:
    """The answer's words without markdown markup (fences, bold, heading marks)."""
    return re.sub(r"```python|```|\*\*|^## ", " ", text, flags=re.M).split()


def use_long_model(world: FakeTelegram, tgi: Any, services: Any, chat: dict[str, Any], who: dict[str, Any],
                   command: str) -> None:
    if "tgi-long" not in services.registry.names():
        pytest.fail("tests/data/models.toml needs the [models.tgi-long] entry (max_new_tokens = 4000)")
    tgi.set_limits(max_total_tokens=16_384)
    # The model choice belongs to the conversation scope: this private chat, or this group.
    world.user_message(chat, who, command)
    [chosen] = world.wait_for(lambda: world.bot_texts(chat["id"]))
    assert chosen == catalogue.text("model_set", "en", model="tgi-long")


def answer_messages(world: FakeTelegram, chat_id: int, expected: list[str], *, timeout: float) -> list[dict[str, Any]]:
    """The bot's messages after the model confirmation, once their words are the answer's
    (in the group the last edits land under the throttle, so wait for them)."""
    def current() -> list[dict[str, Any]]:
        return world.bot_messages(chat_id)[1:]

    with contextlib.suppress(AssertionError):
        world.wait_for(lambda: words("\n".join(m["text"] for m in current())) == expected, timeout=timeout)
    messages = current()
    assert words("\n".join(m["text"] for m in messages)) == expected
    return messages


def check_pieces(messages: list[dict[str, Any]]) -> None:
    assert len(messages) >= 3, [len(m["text"]) for m in messages]
    code_seen: list[str] = []
    for message in messages:
        text, entities = message["text"], message.get("entities") or []
        assert 0 < utf16_len(text) <= MAX_TEXT, utf16_len(text)
        check_entities(text, entities)
        assert "```" not in text  # every piece's fence was closed and became an entity, none leaked
        pres = [e for e in entities if e["type"] == "pre"]
        assert all(e.get("language") == "python" for e in pres), pres
        offset = 0  # the answer is ASCII: UTF-16 offsets are string indices
        for line in text.split("\n"):
            inside = any(e["offset"] <= offset and offset + len(line) <= e["offset"] + e["length"] for e in pres)
            if line.startswith("row_"):
                assert inside, f"code outside a pre entity: {line!r}"
                code_seen.append(line)
            elif line.strip():
                assert not inside, f"prose inside a pre entity: {line!r}"
            offset += len(line) + 1
    assert code_seen == CODE_LINES  # every line of the block, whole and in order


def test_a_10000_character_answer_arrives_as_ordered_private_messages(world: FakeTelegram, tgi: Any,
                                                                      services: Any) -> None:
    ana = person()
    chat = world.private_chat(ana)
    use_long_model(world, tgi, services, chat, ana, "/model tgi-long")
    answer = long_markdown_answer()
    assert 9_500 <= len(answer) <= 11_000 and answer.count("\n") > 225
    tgi.script(answer)
    world.user_message(chat, ana, "/chat write the whole ledger")
    messages = answer_messages(world, chat["id"], words(answer), timeout=60)
    check_pieces(messages)
    sends = world.calls_of("sendMessage", chat_id=chat["id"])[1:]
    assert [c.params["text"] for c in sends] == [m["text"] for m in messages]  # one sendMessage each, in order
    assert sends == sorted(sends, key=lambda c: c.at)
    assert world.calls_of("sendMessageDraft", chat_id=chat["id"]), "the answer should stream into drafts"
    assert not world.calls_of("editMessageText", chat_id=chat["id"], ok=None)
    assert not [c for c in world.calls if not c.ok and c.params.get("chat_id") == chat["id"]]
    assert tgi.generation_requests()[-1].body["parameters"]["max_new_tokens"] == 4000


def test_a_10000_character_answer_arrives_as_ordered_group_messages_by_edits(world: FakeTelegram, tgi: Any,
                                                                             services: Any) -> None:
    ana = person()
    group = world.group(-new_id())
    use_long_model(world, tgi, services, group, ana, "/model@tertulia_test_bot tgi-long")
    answer = long_markdown_answer()
    tgi.script(answer)
    world.user_message(group, ana, "/chat@tertulia_test_bot write the whole ledger")
    messages = answer_messages(world, group["id"], words(answer), timeout=90)
    check_pieces(messages)
    sends = world.calls_of("sendMessage", chat_id=group["id"])[1:]
    assert len(sends) == len(messages)  # one message per piece; the rest are edits of them
    assert not world.calls_of("sendMessageDraft", chat_id=group["id"], ok=None)
    failed = [c for c in world.calls if not c.ok and c.params.get("chat_id") == group["id"]]
    assert all("not modified" in (c.error or "") for c in failed), [c.error for c in failed]
