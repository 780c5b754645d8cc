"""Stop, Regenerate and 👍 / 👎 on Discord: buttons (message components) on the answer, a
click delivered by the fake gateway as INTERACTION_CREATE type 3 (MESSAGE_COMPONENT) to the
real adapter process, acknowledged through the fake REST API within 3 seconds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core import catalogue
from core.panel import decode
from core.policy import place_of
from fakes.discord_payloads import bot_mention, component_click, option
from tests.conftest import wait_until
from tests.integration import discord_support
from tests.integration.discord_support import ANA, BRUNO, DiscordStack

# The shared fixtures (bound here so pytest finds them in this module).
discord_bot = discord_support.discord_bot
discord_gateway = discord_support.discord_gateway
discord_rest = discord_support.discord_rest
discord_stack = discord_support.discord_stack

pytestmark = pytest.mark.integration

LONG = " ".join(f"word{n}" for n in range(200))  # 200 tokens at 0.1 s: 20 s unless stopped
STOPPED = catalogue.text("answer_stopped", "en-US")


def kinds(message: dict[str, Any]) -> list[str]:
    return [decode(b["custom_id"])[0] for row in message.get("components") or []  # type: ignore[index]
            for b in row["components"]]


def custom_id(message: dict[str, Any], kind: str) -> str:
    return next(b["custom_id"] for row in message["components"] for b in row["components"]
                if decode(b["custom_id"])[0] == kind)  # type: ignore[index]


def click(stack: DiscordStack, message: dict[str, Any], kind: str, user: dict[str, Any]) -> Any:
    payload = component_click(stack.rest, message, custom_id(message, kind), user=user)
    stack.gateway.dispatch("INTERACTION_CREATE", payload)
    return wait_until(lambda: (i := stack.rest.interaction(payload["token"])).acked_at and i, timeout=3)


def test_stop_a_mention_answer_and_someone_else_cannot(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    stack.tgi.set_delays(between_tokens=0.1)
    stack.tgi.script(LONG)
    asked = stack.say(bot_mention("write a lot"), mentions_bot=True)
    growing = wait_until(lambda: (m := stack.reply_to(asked)) and kinds(m) == ["stop"] and m, timeout=30)
    refused = click(stack, growing, "stop", BRUNO)
    assert refused.callback_type == 4 and refused.callback_data["flags"] == 64  # ephemeral, to Bruno alone
    assert refused.callback_data["content"] == catalogue.text("control_not_yours.stop", "en-US")
    stopped = click(stack, growing, "stop", ANA)
    assert stopped.callback_type == 4 and stopped.callback_data["content"] == catalogue.text("control_stopping")
    done = wait_until(lambda: (m := stack.rest.messages[growing["id"]])["content"].endswith(STOPPED) and m,
                      timeout=30)  # fmt: skip
    assert kinds(done) == ["regenerate", "up", "down"]
    (left,) = wait_until(lambda: stack.tgi.disconnects, timeout=10)
    assert left.sent < left.total
    assert LONG.startswith(done["content"].removesuffix(STOPPED).strip())


def test_regenerate_a_slash_command_edits_the_original(discord_stack: DiscordStack) -> None:
    stack = discord_stack
    stack.tgi.script("First answer.", "Second answer.")
    payload = stack.command("essay", [option("title", "Tea")])
    stack.answer(payload, "First answer.")
    interaction = stack.rest.interaction(payload["token"])
    original = wait_until(lambda: kinds(m := stack.rest.messages[interaction.original_id]) and m, timeout=10)
    assert kinds(original) == ["regenerate", "up", "down"]
    refused = click(stack, original, "regenerate", BRUNO)  # only the asker (or an admin) regenerates
    assert refused.callback_type == 4 and refused.callback_data["flags"] == 64
    assert refused.callback_data["content"] == catalogue.text("control_not_yours.regenerate", "en-US")
    again = click(stack, original, "regenerate", ANA)
    assert again.callback_type == 6  # DEFERRED_UPDATE_MESSAGE: nothing to say, the answer changes
    stack.answer(payload, "Second answer.")
    wait_until(lambda: kinds(stack.rest.messages[interaction.original_id]) == ["regenerate", "up", "down"],
               timeout=10)  # fmt: skip
    voted = click(stack, stack.rest.messages[interaction.original_id], "up", BRUNO)
    assert voted.callback_data["content"] == catalogue.text("feedback_thanks", "en-US")


def answered_with_feedback(stack: DiscordStack, question: str, *, reply: str) -> tuple[dict[str, Any], str]:
    """A mention answered with ``reply``, once its final buttons (Regenerate, 👍, 👎) show; and its job id."""
    stack.tgi.script(reply)
    asked = stack.say(bot_mention(question), mentions_bot=True)
    answer = wait_until(lambda: (m := stack.reply_to(asked)) and kinds(m) == ["regenerate", "up", "down"] and m,
                        timeout=30)  # fmt: skip
    _, job_id = decode(custom_id(answer, "up"))  # type: ignore[misc]
    return answer, job_id


def test_a_button_of_an_expired_answer_answers_politely(discord_stack: DiscordStack, services: Any) -> None:
    stack = discord_stack
    answer, job_id = answered_with_feedback(stack, "say something", reply="An old answer.")
    services.redis.delete(services.keys.job(job_id))  # as the job's TTL does; Discord keeps the buttons
    for kind in ("regenerate", "up"):
        expired = click(stack, answer, kind, BRUNO)
        assert expired.callback_type == 4 and expired.callback_data["flags"] == 64  # to the clicker alone
        assert expired.callback_data["content"] == catalogue.text("control_expired", "en-US")


def test_feedback_is_one_vote_per_user_per_answer(discord_stack: DiscordStack, services: Any) -> None:
    stack = discord_stack
    answer, job_id = answered_with_feedback(stack, "something to rate", reply="Rate me.")
    place = place_of(services.jobs.load(job_id).message)  # the guild's channel: earlier tests voted there too
    model = services.controls.facts(job_id).model

    def counts() -> tuple[int, int]:
        totals = services.controls.feedback(place=place, at=time.time())
        return (totals[model].up, totals[model].down) if model in totals else (0, 0)

    before = counts()
    for user, kind in ((ANA, "up"), (ANA, "up"), (ANA, "down"), (BRUNO, "up")):
        voted = click(stack, answer, kind, user)
        assert voted.callback_data["content"] == catalogue.text("feedback_thanks", "en-US")
    after = counts()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)  # Ana changed her vote; Bruno voted once
    votes = services.redis.hgetall(services.keys.job_control(job_id, "votes"))
    assert sorted(v.decode().split("|")[0] for v in votes.values()) == ["down", "up"]


def test_continue_on_a_cut_slash_command_answer_follows_up_and_keeps_the_cut_answer(
    discord_stack: DiscordStack,
) -> None:
    stack = discord_stack
    whole = " ".join(f"part{n}" for n in range(1, 301))  # tests/data/models.toml: /essay stops at 240 tokens
    stack.tgi.script(whole, whole)
    note = catalogue.text("answer_cut", "en-US")
    payload = stack.command("essay", [option("title", "Tea")])
    interaction = stack.rest.interaction(payload["token"])
    original = wait_until(lambda: "continue" in kinds(m := stack.rest.messages.get(interaction.original_id) or {})
                          and m, timeout=30)  # fmt: skip
    assert kinds(original) == ["regenerate", "up", "down", "continue"]
    shown = original["content"].removesuffix(note).strip()
    assert original["content"].endswith(note) and shown == " ".join(whole.split()[:240])
    pressed = click(stack, original, "continue", BRUNO)
    assert pressed.callback_type == 6  # nothing to say: the rest comes as a message
    pieces = wait_until(lambda: len(p := stack.rest.answer_of(payload["token"])) == 2 and p, timeout=30)
    first, rest = pieces
    assert first == original["content"]  # the cut answer stays as it was
    assert shown + rest == whole  # the rest, in a new message, follows on exactly
