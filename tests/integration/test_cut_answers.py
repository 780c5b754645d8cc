"""Answers cut at max_new_tokens, end to end: the console -> a real worker -> the TGI-protocol
fake, which stops at max_new_tokens and reports finish_reason "length" (TGI native details,
OpenAI-compatible choices), and goes on deterministically from a given answer prefix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core import catalogue
from tests.integration.console_support import Transcript

pytestmark = pytest.mark.integration

NOTE = catalogue.text("answer_cut", "en")
ESSAY = " ".join(f"word{i}" for i in range(1, 601))  # 600 tokens for the fake's tokenizer
ESSAY_LIMIT = 240  # tests/data/models.toml: [models.tgi.max_new_tokens_per_command] essay


@pytest.fixture
def chat(services: Any, worker: Any, tgi: Any, tgi_second: Any) -> Iterator[Transcript]:
    from tertulia.bootstrap import build_router

    tgi.reset()
    tgi_second.reset()
    yield Transcript(services=services, router=build_router(services))
    tgi.reset()
    tgi_second.reset()


def cut_text(answer: str) -> str:
    assert answer.endswith("\n\n" + NOTE), answer[-200:]
    return answer.removesuffix("\n\n" + NOTE)


def test_a_length_finish_is_told_and_continue_follows_on_exactly(chat: Transcript, tgi: Any) -> None:
    tgi.script(ESSAY, ESSAY, ESSAY)
    first = cut_text(chat.say("/essay The Tides"))
    request = tgi.generation_requests()[-1]
    assert request.body["parameters"]["max_new_tokens"] == ESSAY_LIMIT  # the preset's figure for /essay
    assert first == " ".join(ESSAY.split()[:ESSAY_LIMIT])

    second = cut_text(chat.say("/continue"))  # 600 tokens take three goes of 240
    # The raw prompt goes on from the answer so far, with no end of turn in between.
    prompts = tgi.prompts()
    assert prompts[-1] == prompts[-2] + first
    assert tgi.generation_requests()[-1].body["parameters"]["max_new_tokens"] == ESSAY_LIMIT

    third = chat.say("/continue")
    assert NOTE not in third
    assert prompts[-2] + first + " " + second == tgi.prompts()[-1]
    assert f"{first} {second} {third}" == ESSAY

    assert chat.say("/continue") == catalogue.text("nothing_to_continue", "en")


def test_the_openai_compatible_api_continues_the_final_message(chat: Transcript, tgi_second: Any) -> None:
    answer = " ".join(f"part{i}" for i in range(1, 301))  # openai-test: max_new_tokens 200
    tgi_second.script(answer, answer)
    assert chat.say("/model openai-test") == "This conversation now uses the model 'openai-test'."
    first = cut_text(chat.say("/essay Rivers"))
    assert first == " ".join(answer.split()[:200])
    rest = chat.say("/continue")
    assert f"{first} {rest}" == answer
    sent = tgi_second.generation_requests()[-1].body
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert sent["messages"][-1] == {"role": "assistant", "content": first}
    assert sent["messages"][:-1] == tgi_second.generation_requests()[-2].body["messages"]


def test_a_code_block_cut_midway_is_closed_before_the_note(chat: Transcript, tgi: Any) -> None:
    code = "```python\n" + "\n".join(f"value_{i} = {i}" for i in range(1, 121)) + "\n```\nDone."
    tgi.script(code, code)
    first = cut_text(chat.say("/code numbers in python"))
    assert first.startswith("```python\nvalue_1 = 1\n")
    assert first.endswith("\n```") and first.count("```") == 2  # closed, once
    assert tgi.generation_requests()[-1].body["parameters"]["max_new_tokens"] == 220  # /code's own figure
    rest = chat.say("/continue")
    assert rest.startswith("```python\nvalue_")  # the rest opens the block again
    assert rest.endswith("value_120 = 120\n```\nDone.") and NOTE not in rest


def test_a_cut_chat_turn_is_remembered_whole_once(chat: Transcript, tgi: Any) -> None:
    answer = " ".join(f"fact{i}" for i in range(1, 261))  # chat: the preset's 200
    tgi.script(answer, answer, "Noted.")
    first = cut_text(chat.say("/chat Tell me all the facts."))
    rest = chat.say("/continue")
    assert f"{first} {rest}" == answer
    chat.say("/chat Thanks.")
    prompt = tgi.prompts()[-1]
    assert prompt.count("fact1 ") == 1 and f"{answer}<|im_end|>" in prompt
    assert prompt.count("Tell me all the facts.") == 1
