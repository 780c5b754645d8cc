"""A console line goes through Redis and a Celery worker to the real CPU model and back.

Assertions are on structure (a reply arrived, it came from the model, entities parsed into
the grouped list, code is fenced), not on what a 135M model knows.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest

from core import catalogue
from core.entities import ENTITIES_SCHEMA
from core.models import load_registry
from tests.conftest import REPO
from tests.e2e.conftest import ConsoleRun, LocalServer, run_console

pytestmark = pytest.mark.e2e

FAILURES = tuple(catalogue.text(key, "en") for key in ("model_busy", "internal_error", "entities_bad_json"))


def one_job(line: str, env: dict[str, str], server: LocalServer) -> tuple[ConsoleRun, str]:
    before = server.completions()
    run = run_console([line], env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    replies = run.replies()
    assert replies, f"no reply on stdout:\n{run.stdout}\n{run.stderr[-2000:]}"
    text = "\n".join(replies)
    assert not any(failure in text for failure in FAILURES), text
    assert server.completions() > before, "the answer did not come from the llama.cpp server"
    print(f"\n[e2e] {line.split()[0]}: {run.seconds:.1f}s (console start to exit)\n{text[:400]}")
    return run, text


def test_chat(e2e_env: dict[str, str], e2e_worker: Any, local_llm: LocalServer) -> None:
    _run, text = one_job("/chat Say hello in one short sentence.", e2e_env, local_llm)
    assert len(text.strip()) > 0


def test_translate(e2e_env: dict[str, str], e2e_worker: Any, local_llm: LocalServer) -> None:
    _run, text = one_job("/translate de J'aime l'apprentissage automatique.", e2e_env, local_llm)
    assert text.strip()
    assert "/translate" not in text  # not the usage line: the model answered


def test_entities_come_back_as_the_grouped_list(
    e2e_env: dict[str, str], e2e_worker: Any, local_llm: LocalServer
) -> None:
    _run, text = one_job(
        "/entities Ada Lovelace worked with Charles Babbage in London.", e2e_env, local_llm
    )
    header = catalogue.text("entities_header", "en")
    if text != catalogue.text("entities_none", "en"):
        # The schema-constrained JSON parsed and was rendered, grouped by type.
        assert text.startswith(header), text
        groups = [line for line in text.splitlines()[1:] if line.strip()]
        assert groups and all(re.match(r"- \*\*[^*]+\*\*: \S", line) for line in groups), text


def test_code_reply_has_a_fenced_block_naming_its_language(
    e2e_env: dict[str, str], e2e_worker: Any, local_llm: LocalServer
) -> None:
    _run, text = one_job("/code a python function that reverses a string", e2e_env, local_llm)
    assert re.search(r"^```[A-Za-z0-9_+-]+\s*$", text, re.M), text
    assert text.count("```") >= 2, text


def test_the_server_honours_the_registrys_json_schema_form(local_llm: LocalServer) -> None:
    """What the worker relies on for /entities: the response_format form that the registry
    names for this endpoint constrains the output to the schema, so it always parses."""
    import jsonschema
    spec = load_registry(REPO / "config" / "models.toml", env={"TERTULIA_LOCAL_LLM_URL": local_llm.url}).get(
        "smollm2-local"
    )
    assert spec.extra.get("json_mode") == "json_object_schema"
    body = {
        "model": spec.model_id,
        "messages": [
            {"role": "system", "content": "List the named entities of the text as JSON."},
            {"role": "user", "content": "Marie Curie was born in Warsaw and worked at the University of Paris."},
        ],
        "max_tokens": 96,
        "temperature": 0.2,
        "response_format": {"type": "json_object", "schema": ENTITIES_SCHEMA},
    }
    request = urllib.request.Request(
        f"{spec.url}/chat/completions", data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        content = json.loads(response.read())["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), ENTITIES_SCHEMA)


def test_the_gguf_carries_the_smollm2_template_we_render(local_llm: LocalServer) -> None:
    """The llama.cpp server formats chat with the template embedded in the GGUF. It renders
    what core/prompts.py renders for ChatML (and what the vendored official template renders)."""
    import jinja2
    from llama_cpp import Llama

    from core.ports import ChatTurn
    from core.prompts import render_prompt
    from tertulia.local_llm import find_model_file
    from tests.unit.test_prompts import MULTI_TURN, SINGLE
    model = Llama(model_path=str(find_model_file()), vocab_only=True, verbose=False)
    embedded = jinja2.Environment().from_string(model.metadata["tokenizer.chat_template"])
    for messages in (MULTI_TURN, SINGLE, (ChatTurn(role="user", content="Hi"),)):
        payload = [{"role": m.role, "content": m.content} for m in messages]
        rendered = embedded.render(messages=payload, add_generation_prompt=True)
        if messages[0].role == "system":
            assert rendered == render_prompt("chatml", messages)
        else:  # the template's own default system line; we always send a system turn
            assert rendered.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
            assert rendered.endswith(render_prompt("chatml", messages))


def test_models_lists_the_presets_and_model_switches_the_scope(
    e2e_env: dict[str, str], e2e_worker: Any, local_llm: LocalServer
) -> None:
    run = run_console(["/models", "/model flan-t5", "/models"], env=e2e_env)
    assert run.returncode == 0, run.stderr[-2000:]
    first, switched, second = run.replies()
    reachable, unreachable = catalogue.text("model_reachable", "en"), catalogue.text("model_unreachable", "en")
    # The local model answers, and is the one in use; the TGI presets have no server here.
    assert f"* `smollm2-local` ({reachable})" in first, first
    assert f"  `flan-t5` ({unreachable})" in first, first
    assert switched == catalogue.text("model_set", "en", model="flan-t5")
    assert "* `flan-t5`" in second and "  `smollm2-local`" in second, second


def test_the_local_server_reports_a_cut_and_goes_on_from_it(local_llm: LocalServer) -> None:
    """/continue on llama-cpp-python: its chat stream says finish_reason "length", and the
    rest comes from its raw /v1/completions with the answer so far after the ChatML prompt
    (its chat route would start a new turn instead)."""
    from core.ports import ChatTurn, GenerationRequest
    from core.settings import Settings
    from worker.llm.openai_compat import OpenAICompatClient

    spec = load_registry(REPO / "config" / "models.toml", env={"TERTULIA_LOCAL_LLM_URL": local_llm.url}).get(
        "smollm2-local"
    )
    client = OpenAICompatClient(spec, settings=Settings(request_timeout=60, token_timeout=60))
    messages = (
        ChatTurn(role="system", content="You are a helpful assistant."),
        ChatTurn(role="user", content="Write a short story about a lighthouse keeper."),
    )
    stream = client.stream(GenerationRequest(messages=messages, max_new_tokens=24, temperature=0.0))
    first = "".join(stream)
    assert stream.usage.finish_reason == "length" and first.strip()
    stream = client.stream(GenerationRequest(messages=messages, max_new_tokens=24, temperature=0.0, prefix=first))
    rest = "".join(stream)
    assert rest.strip() and stream.usage.finish_reason == "length"
    assert not rest.lstrip().startswith(first.split()[0])  # it went on; it did not start again
    assert "POST /v1/completions" in local_llm.log_path.read_text(errors="replace")
