"""The production path end to end: a console line -> router -> job in Redis -> a real Celery
worker -> the TGI-protocol server over HTTP -> streamed back to the console."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.entities import ENTITIES_SCHEMA
from tests.integration.console_support import Transcript

pytestmark = pytest.mark.integration


@pytest.fixture
def chat(services: Any, worker: Any, tgi: Any) -> Iterator[Transcript]:
    from tertulia.bootstrap import build_router

    tgi.reset()
    yield Transcript(services=services, router=build_router(services))
    tgi.reset()


def test_essay_streams_from_the_model(chat: Transcript, tgi: Any) -> None:
    essay = "The Tides\n\n" + "\n\n".join(f"Paragraph {i} about the moon and the sea." for i in range(1, 6))
    tgi.script(essay)
    tgi.set_delays(between_tokens=0.03)
    assert chat.say("/essay The Tides") == essay
    assert essay in chat.printed()  # the terminal showed it as it streamed
    prompt = tgi.prompts()[-1]
    assert 'essay titled "The Tides"' in prompt and "five paragraphs" in prompt
    assert tgi.generation_requests()[-1].path == "/generate_stream"
    ops = [e["op"] for e in chat.events()]
    # streamed: a first post, intermediate updates, then the final text
    assert ops[0] == "start" and ops.count("post") == 1 and ops.count("update") >= 2 and ops[-2:] == ["finish", "close"]


def test_translate_names_the_target_language(chat: Transcript, tgi: Any) -> None:
    tgi.script("Ich liebe maschinelles Lernen.")
    assert chat.say("/translate de J'aime l'apprentissage automatique.") == "Ich liebe maschinelles Lernen."
    prompt = tgi.prompts()[-1]
    assert "translate it into German" in prompt and "J'aime l'apprentissage automatique." in prompt


def test_summarize_text(chat: Transcript, tgi: Any) -> None:
    tgi.script("A short summary.")
    assert chat.say("/summarize The committee met on Monday and approved the budget.") == "A short summary."
    assert "approved the budget" in tgi.prompts()[-1]


def test_summarize_a_local_file(chat: Transcript, tgi: Any, tmp_path: Any) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Minutes\nThe committee approved the new library budget.")
    tgi.script("The budget was approved.")
    assert chat.say(f"/summarize @{notes}") == "The budget was approved."
    assert "approved the new library budget" in tgi.prompts()[-1]


def test_entities_come_from_grammar_constrained_json(chat: Transcript, tgi: Any) -> None:
    answer = chat.say("/entities Ada Lovelace met Charles Babbage in London.")
    request = tgi.generation_requests()[-1]
    assert request.body["parameters"]["grammar"] == {"type": "json", "value": ENTITIES_SCHEMA}
    assert answer.startswith("Entities found:")
    assert "Ada Lovelace" in answer and "London" in answer
    posted = [e["text"] for e in chat.events() if e["op"] == "post"]
    assert posted == ["Working on it..."]


def test_entities_that_are_not_json_get_a_clear_reply(chat: Transcript, tgi: Any) -> None:
    tgi.script("Sure! The entities are Ada and London.")
    assert chat.say("/entities Ada went to London") == "The model's entity list could not be read. Please try again."


def test_code_answers_in_a_fenced_block_with_language(chat: Transcript, tgi: Any) -> None:
    tgi.script("```python\nprint('hello')\n```\nPrints a greeting.")
    answer = chat.say("/code print hello in python")
    assert answer.startswith("```python\nprint('hello')\n```")
    assert "fenced Markdown code block" in tgi.prompts()[-1]


def test_chat_and_plain_text_with_memory(chat: Transcript, tgi: Any) -> None:
    tgi.script("Nice to meet you, Ada.", "Your name is Ada.")
    assert chat.say("/chat My name is Ada.") == "Nice to meet you, Ada."
    assert chat.say("What is my name?") == "Your name is Ada."  # console lines are addressed to the bot
    second = tgi.prompts()[-1]
    assert "My name is Ada." in second and "Nice to meet you, Ada." in second


def test_another_scope_does_not_see_the_first(chat: Transcript, services: Any, tgi: Any) -> None:
    from tertulia.bootstrap import build_router

    tgi.script("Hello Ada.", "I don't know your name.")
    chat.say("/chat My name is Ada.")
    other = Transcript(services=services, router=build_router(services))
    other.say("/chat What is my name?")
    assert "My name is Ada." not in tgi.prompts()[-1]


def test_reset_forgets(chat: Transcript, tgi: Any) -> None:
    tgi.script("Hello Ada.", "I don't know.")
    chat.say("/chat My name is Ada.")
    assert chat.say("/reset") == "Done: I've forgotten this conversation."
    chat.say("/chat What is my name?")
    assert "My name is Ada." not in tgi.prompts()[-1]


def test_concurrent_turns_in_one_scope_are_serialised(chat: Transcript, tgi: Any) -> None:
    tgi.set_delays(first_token=0.3, between_tokens=0.02)
    tgi.script("I will remember Ada.", "You are Ada.")
    first = chat.submit("/chat My name is Ada.")
    second = chat.submit("/chat Who am I?")  # queued while the first still streams
    assert chat.follow(first) == "I will remember Ada."
    assert chat.follow(second) == "You are Ada."
    # The second turn ran after the first was recorded, so its prompt carries it.
    assert "My name is Ada." in tgi.prompts()[1] and "I will remember Ada." in tgi.prompts()[1]


def test_history_is_trimmed_oldest_first_under_a_small_budget(chat: Transcript, tgi: Any) -> None:
    tgi.set_limits(max_input_tokens=400, max_total_tokens=800)
    for i in range(1, 5):
        tgi.script(f"Answer {i}.")
        chat.say(f"/chat Message number {i}: " + "filler words here " * 20)
    prompt = tgi.prompts()[-1]
    assert "Message number 4" in prompt
    assert "Message number 1" not in prompt
    assert json.dumps(tgi.generation_requests()[-1].body)  # every request stayed valid for the server


def test_ask_about_a_local_file(chat: Transcript, tgi: Any, tmp_path: Any) -> None:
    notes = tmp_path / "minutes.md"
    notes.write_text("# Minutes\n\nThe board approved a budget of 4 million for the library.")
    tgi.script("4 million, approved by the board.")
    assert chat.say(f"/ask @{notes} How large is the library budget?") == "4 million, approved by the board."
    prompt = tgi.prompts()[-1]
    assert "Question: How large is the library budget?" in prompt and "budget of 4 million" in prompt


def test_ask_without_a_file_uses_the_conversation(chat: Transcript, tgi: Any) -> None:
    tgi.script("Noted, Zoltan.", "You said your name is Zoltan.")
    chat.say("/chat my name is Zoltan")
    assert chat.say("/ask what is my name?") == "You said your name is Zoltan."
    assert "my name is Zoltan" in tgi.prompts()[-1] and "Noted, Zoltan." in tgi.prompts()[-1]


def test_long_text_is_summarised_map_reduce(chat: Transcript, tgi: Any) -> None:
    tgi.set_limits(max_input_tokens=300, max_total_tokens=600)
    text = " ".join(f"Sentence {i} says something about the quarterly numbers." for i in range(300))
    answer = chat.say(f"/summarize {text[:3900]}")
    requests = tgi.generation_requests()
    assert len(requests) > 2  # the parts, then the combination
    assert any("Summarize this part" in p for p in tgi.prompts())
    assert "summaries of consecutive parts" in tgi.prompts()[-1]
    assert answer and "Summarising a long text in" in "".join(e["text"] for e in chat.events())
