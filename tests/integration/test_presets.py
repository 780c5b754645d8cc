"""The shipped presets for chat APIs that apply the served model's own chat template: TGI's
Messages API (`tgi-messages`) and vLLM (`vllm`), loaded from config/models.toml and driven
through the real OpenAI-compatible client against the TGI-protocol fake's
/v1/chat/completions (vLLM speaks the same API; no vLLM runs here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.models import load_registry
from core.ports import ChatTurn, GenerationRequest
from core.settings import REPO_ROOT, Settings
from worker.llm.directory import ModelClients
from worker.llm.openai_compat import OpenAICompatClient

pytestmark = pytest.mark.integration

MESSAGES = (ChatTurn(role="system", content="Be brief."), ChatTurn(role="user", content="Say hi."))


@pytest.fixture
def directory(tgi: Any) -> Iterator[ModelClients]:
    tgi.reset()
    env = {"TERTULIA_TGI_URL": tgi.url, "TERTULIA_VLLM_URL": f"{tgi.url}/v1", "TERTULIA_VLLM_MODEL": "served-name"}
    registry = load_registry(REPO_ROOT / "config" / "models.toml", env=env)
    yield ModelClients(registry, settings=Settings(request_timeout=3.0, token_timeout=2.0))
    tgi.reset()


@pytest.mark.parametrize(("preset", "model_id"), [("tgi-messages", "tgi"), ("vllm", "served-name")])
def test_a_chat_api_preset_sends_messages_not_a_rendered_prompt(
    directory: ModelClients, tgi: Any, preset: str, model_id: str
) -> None:
    tgi.script("Hi there.")
    client = directory.client(preset)
    assert isinstance(client, OpenAICompatClient)
    text = "".join(client.stream(GenerationRequest(messages=MESSAGES, max_new_tokens=20)))
    assert text == "Hi there."
    (sent,) = tgi.generation_requests()
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == model_id
    # The turns go as they are: the server applies the model's chat template.
    assert sent.body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}]
    assert directory.reachable(preset)


def test_tgi_messages_shares_the_tgi_server_and_its_tokenizer(directory: ModelClients, tgi: Any) -> None:
    native, messages = directory.client("tgi"), directory.client("tgi-messages")
    assert messages.count_tokens("one two three") == native.count_tokens("one two three")
    assert any(r.path == "/tokenize" for r in tgi.requests)
    assert messages.info().max_input_tokens == 3072  # the preset's default; TGI's --max-input-tokens
