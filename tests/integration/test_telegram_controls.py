"""Stop, Regenerate and 👍 / 👎 on Telegram: inline keyboards, callback_query updates through
the real PTB adapter (polling), answerCallbackQuery; /stop where a draft has no keyboard."""

# ruff: noqa: F811  (pytest fixtures imported from telegram_support are redefined as arguments)
from __future__ import annotations

import time
from typing import Any

import pytest

from bots.telegram.formatting import render
from core import catalogue
from core.panel import decode
from core.policy import place_of
from fakes.telegram_api import FakeTelegram
from tests.integration.telegram_support import bot, new_id, person, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

LONG = " ".join(f"word{n}" for n in range(200))  # 200 tokens at 0.1 s: 20 s unless stopped
STOPPED = render(catalogue.text("answer_stopped", "en"))[0].text  # as the chat shows it (italic)


def kinds(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [decode(b["callback_data"])[0] for row in rows for b in row]  # type: ignore[index]


def data_of(message: dict[str, Any], kind: str) -> str:
    rows = message["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if decode(b["callback_data"])[0] == kind)  # type: ignore[index]


def answered(world: FakeTelegram, query_id: str) -> dict[str, Any]:
    return world.wait_for(lambda: world.callback_answers.get(query_id), timeout=10)  # type: ignore[no-any-return]


def test_stop_in_a_group_closes_the_stream_and_keeps_the_text(world: FakeTelegram, tgi: Any) -> None:
    tgi.set_delays(between_tokens=0.1)
    tgi.script(LONG)
    ana, bruno = person(), person("Bruno", "es")
    group = world.group(-new_id())
    world.user_message(group, ana, "/chat@tertulia_test_bot write a lot")
    (growing,) = world.wait_for(lambda: [m for m in world.bot_messages(group["id"]) if kinds(m) == ["stop"]])
    # Someone else's click is refused with an alert, and nothing stops.
    refused = answered(world, world.press(group, growing["message_id"], bruno, data_of(growing, "stop")))
    assert refused == {"text": catalogue.text("control_not_yours.stop", "es"), "show_alert": True}
    query = world.press(group, growing["message_id"], ana, data_of(growing, "stop"))
    assert answered(world, query) == {"text": catalogue.text("control_stopping", "en"), "show_alert": False}
    (done,) = world.wait_for(lambda: [m for m in world.bot_messages(group["id"]) if m["text"].endswith(STOPPED)],
                             timeout=30)  # fmt: skip
    assert kinds(done) == ["regenerate", "up", "down"]
    (left,) = world.wait_for(lambda: tgi.disconnects, timeout=10)
    assert left.sent < left.total
    assert LONG.startswith(done["text"].removesuffix(STOPPED).strip())


def test_regenerate_in_a_private_chat_replaces_the_answer(world: FakeTelegram, tgi: Any, services: Any) -> None:
    tgi.script("First answer.", "Second answer.")
    ana = person()
    chat = world.private_chat(ana)
    world.user_message(chat, ana, "/chat tell me something")
    (first,) = world.wait_for(lambda: [m for m in world.bot_messages(chat["id"]) if kinds(m)], timeout=30)
    assert first["text"] == "First answer." and kinds(first) == ["regenerate", "up", "down"]
    query = world.press(chat, first["message_id"], ana, data_of(first, "regenerate"))
    answered(world, query)
    world.wait_for(lambda: world.bot_texts(chat["id"]) == ["Second answer."], timeout=30)
    (again,) = world.bot_messages(chat["id"])
    assert again["message_id"] == first["message_id"]  # edited in place, not a second answer
    world.wait_for(lambda: kinds(world.bot_messages(chat["id"])[0]) == ["regenerate", "up", "down"], timeout=10)
    scope = f"telegram:{world.bot['id']}:dm:{ana['id']}"
    turns = [(t.role, t.content) for t in services.context.history(scope)]
    assert turns == [("user", "tell me something"), ("assistant", "Second answer.")]


def test_a_vote_is_thanked_and_counted_once(world: FakeTelegram, tgi: Any, services: Any) -> None:
    tgi.script("Rate me.")
    ana, bruno = person(), person("Bruno", "es")
    group = world.group(-new_id())
    world.user_message(group, ana, "/chat@tertulia_test_bot rate this")
    (answer,) = world.wait_for(lambda: [m for m in world.bot_messages(group["id"]) if kinds(m)[:1] == ["regenerate"]],
                               timeout=30)  # fmt: skip
    for who, kind in ((ana, "up"), (ana, "up"), (ana, "down"), (bruno, "up")):
        query = world.press(group, answer["message_id"], who, data_of(answer, kind))
        thanks = catalogue.text("feedback_thanks", who["language_code"])
        assert answered(world, query) == {"text": thanks, "show_alert": False}
    # One vote per user per answer: Ana's second click changed hers, never doubled it.
    _, job_id = decode(data_of(answer, "up"))  # type: ignore[misc]
    job = services.jobs.load(job_id)
    totals = services.controls.feedback(place=place_of(job.message), at=time.time())
    (model,) = totals
    assert (totals[model].up, totals[model].down) == (1, 1)
    votes = services.redis.hgetall(services.keys.job_control(job_id, "votes"))
    assert {k.decode(): v.decode().split("|")[0] for k, v in votes.items()} == {
        f"telegram:{world.bot['id']}:{ana['id']}": "down", f"telegram:{world.bot['id']}:{bruno['id']}": "up"}


def test_stop_typed_in_a_private_chat(world: FakeTelegram, tgi: Any) -> None:
    """A draft carries no keyboard: in a private chat, /stop stops the answer as it grows."""
    tgi.set_delays(between_tokens=0.1)
    tgi.script(LONG)
    ana = person()
    chat = world.private_chat(ana)
    world.user_message(chat, ana, "/chat write a lot")
    world.wait_for(lambda: world.drafts[chat["id"]], timeout=30)
    world.user_message(chat, ana, "/stop")
    world.wait_for(lambda: [t for t in world.bot_texts(chat["id"]) if t.endswith(STOPPED)], timeout=30)
    world.wait_for(lambda: tgi.disconnects, timeout=10)


def test_continue_on_a_cut_answer_sends_the_rest_as_a_new_message(world: FakeTelegram, tgi: Any) -> None:
    # tests/data/models.toml: the tgi preset's /chat stops at 200 tokens, with finish_reason "length".
    whole = " ".join(f"part{n}" for n in range(1, 551))  # three goes: 200, 200 and 150
    tgi.script(whole, whole, whole, whole)
    note = render(catalogue.text("answer_cut", "en"))[0].text
    ana, bruno = person(), person("Bruno", "es")
    group = world.group(-new_id())

    def answers() -> list[dict[str, Any]]:
        return [m for m in world.bot_messages(group["id"]) if kinds(m)[:1] == ["regenerate"]]  # final ones

    world.user_message(group, ana, "/chat@tertulia_test_bot tell me everything")
    (first,) = world.wait_for(answers, timeout=30)
    assert kinds(first) == ["regenerate", "up", "down", "continue"]
    shown = first["text"].removesuffix(note).strip()
    assert first["text"].endswith(note) and shown == " ".join(whole.split()[:200])
    # Anyone in the conversation may ask for the rest: it is the same conversation's answer.
    answered(world, world.press(group, first["message_id"], bruno, data_of(first, "continue")))
    _, second = world.wait_for(lambda: (found := answers()) and len(found) == 2 and found, timeout=30)
    assert kinds(second) == ["regenerate", "up", "down", "continue"]  # cut again, with its own Continue
    rest = second["text"].removesuffix(render(catalogue.text("answer_cut", "es"))[0].text).strip()  # Bruno's
    assert f"{shown} {rest}" == " ".join(whole.split()[:400])  # follows on exactly (shown without its leading space)
    prompts = tgi.prompts()
    assert prompts[-1] == prompts[-2] + shown

    # The first answer's button again: that answer was continued already; the second's rest is not its.
    answered(world, world.press(group, first["message_id"], ana, data_of(first, "continue")))
    refusal = render(catalogue.text("cannot_continue_that", "en"))[0].text
    world.wait_for(lambda: refusal in world.bot_texts(group["id"]), timeout=30)
    answered(world, world.press(group, second["message_id"], ana, data_of(second, "continue")))
    *_, third = world.wait_for(lambda: (found := answers()) and len(found) == 3 and found, timeout=30)
    assert f"{shown} {rest} {third['text']}" == whole and kinds(third) == ["regenerate", "up", "down"]
    assert len(tgi.generation_requests()) == 3  # the refused click asked no model


def test_a_button_of_an_expired_answer_answers_politely(world: FakeTelegram, tgi: Any, services: Any) -> None:
    tgi.script("An old answer.")
    ana = person()
    chat = world.private_chat(ana)
    world.user_message(chat, ana, "/chat say something")
    (answer,) = world.wait_for(lambda: [m for m in world.bot_messages(chat["id"]) if kinds(m)], timeout=30)
    _, job_id = decode(data_of(answer, "up"))  # type: ignore[misc]
    services.redis.delete(services.keys.job(job_id))  # as the job's TTL does; Telegram keeps the keyboard
    for kind in ("regenerate", "up"):
        query = world.press(chat, answer["message_id"], ana, data_of(answer, kind))
        assert answered(world, query) == {"text": catalogue.text("control_expired", "en"), "show_alert": True}
