"""Answers cut at max_new_tokens, end to end: the console -> a real worker -> the TGI-protocol
fake, which stops at max_new_tokens and reports finish_reason "length" (TGI native details,
OpenAI-compatible choices), and goes on deterministically from a given answer prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from core import catalogue
from core.cut import CutAnswer
from core.instructions import CONTINUE_INSTRUCTION
from core.models import Flavour, ModelSpec
from core.ports import ChatTurn, GenerationRequest
from core.settings import Settings
from tests.integration.console_support import Transcript
from worker.llm.openai_compat import OpenAICompatClient
from worker.llm.tgi import TGIClient

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


# --- the clients: finish reasons and the three ways to go on ---------------------------

MESSAGES = (ChatTurn(role="system", content="Be brief."), ChatTurn(role="user", content="Count."))
COUNT = " ".join(f"n{i}" for i in range(1, 31))


def client(flavour: Flavour, url: str, **extra: Any) -> TGIClient | OpenAICompatClient:
    settings = Settings(request_timeout=3.0, token_timeout=2.0)
    if flavour is Flavour.TGI:
        return TGIClient(ModelSpec(name="t", flavour=flavour, url=url, prompt_format="chatml"), settings=settings)
    spec = ModelSpec(name="o", flavour=flavour, url=f"{url}/v1", model_id="m", max_input_tokens=900, extra=extra)
    return OpenAICompatClient(spec, settings=settings)


@pytest.mark.parametrize(
    ("flavour", "extra", "path"),
    [
        (Flavour.TGI, {}, "/generate_stream"),
        (Flavour.OPENAI, {}, "/v1/chat/completions"),
        (Flavour.OPENAI, {"continuation": "completion"}, "/v1/completions"),
    ],
)
def test_each_client_reports_length_and_goes_on_from_a_prefix(
    tgi: Any, flavour: Flavour, extra: dict[str, Any], path: str
) -> None:
    tgi.reset()
    tgi.script(COUNT, COUNT)
    model = client(flavour, tgi.url, **extra)
    stream = model.stream(GenerationRequest(messages=MESSAGES, max_new_tokens=10))
    first = "".join(stream)
    assert first == " ".join(COUNT.split()[:10]) and stream.usage.finish_reason == "length"
    stream = model.stream(GenerationRequest(messages=MESSAGES, max_new_tokens=40, prefix=first))
    rest = "".join(stream)
    assert first + rest == COUNT and stream.usage.finish_reason != "length"
    sent = tgi.generation_requests()[-1]
    assert sent.path == path
    if flavour is Flavour.TGI or extra:
        # A raw prompt: rendered, then the answer so far, with no end of turn.
        assert tgi.prompts()[-1] == model.render(MESSAGES) + first
    tgi.reset()


def test_a_chat_api_without_prefill_is_asked_for_the_rest(tgi: Any) -> None:
    tgi.reset()
    tgi.script("the rest.")
    model = client(Flavour.OPENAI, tgi.url, continuation="instruction")
    assert "".join(model.stream(GenerationRequest(messages=MESSAGES, max_new_tokens=10, prefix="n1 n2"))) == "the rest."
    body = tgi.generation_requests()[-1].body
    assert "continue_final_message" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][2]["content"] == "n1 n2"
    assert body["messages"][3]["content"] == CONTINUE_INSTRUCTION
    tgi.reset()


# --- the Redis stores --------------------------------------------------------------------


def test_the_history_is_extended_only_while_the_cut_answer_is_its_last(services: Any) -> None:
    context, scope = services.context, f"test:cut:{uuid.uuid4().hex}"
    context.record_exchange(scope, job_id=uuid.uuid4().hex, user="Tell me.", assistant="The first half")
    assert context.extend_answer(scope, answer="The first half", whole="The first half and the rest.")
    assert [t.content for t in context.history(scope)] == ["Tell me.", "The first half and the rest."]
    context.record_exchange(scope, job_id=uuid.uuid4().hex, user="And?", assistant="Nothing more.")
    # The conversation moved on: the earlier turn stays as it was.
    assert not context.extend_answer(scope, answer="The first half and the rest.", whole="changed")
    assert context.history(scope)[-1].content == "Nothing more."
    context.clear(scope)


def test_a_cut_is_kept_per_scope_and_forgotten_only_by_its_own_job(services: Any) -> None:
    cuts, scope = services.cuts, f"test:cut:{uuid.uuid4().hex}"
    cut = CutAnswer(job_id="j1", kind="essay", model="tgi", messages=MESSAGES, text="So far", stop=("<|im_end|>",))
    cuts.remember(scope, cut)
    assert cuts.last(scope) == cut and cuts.last(f"{scope}-other") is None
    assert 0 < services.redis.ttl(services.keys.cut(scope)) <= services.settings.job_ttl_seconds
    cuts.forget(scope, job_id="j0")  # a continuation of an older cut: this one stays
    assert cuts.last(scope) == cut
    cuts.forget(scope, job_id="j1")
    assert cuts.last(scope) is None
