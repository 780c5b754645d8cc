"""The model registry: the shipped presets, environment overrides, job defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.models import Flavour, expand, load_registry
from core.ports import ChatTurn
from core.prompts import FORMATS, render_prompt
from core.settings import REPO_ROOT

MODELS_FILE = REPO_ROOT / "config" / "models.toml"

PRESETS = {
    "smollm2-local": (Flavour.OPENAI, None),
    "tgi": (Flavour.TGI, "chatml"),
    "llama-2-chat": (Flavour.TGI, "llama-2"),
    "codellama-instruct": (Flavour.TGI, "llama-2"),
    "falcon-instruct": (Flavour.TGI, "falcon"),
    "bloomz": (Flavour.TGI, "plain"),
    "flan-t5": (Flavour.TGI, "t5"),
    "tgi-messages": (Flavour.OPENAI, None),
    "tgi-vision": (Flavour.OPENAI, None),
    "vllm": (Flavour.OPENAI, None),
    "gpt-4": (Flavour.OPENAI, None),
    "gemini": (Flavour.OPENAI, None),
}


def test_shipped_presets_load_with_their_flavour_and_format() -> None:
    registry = load_registry(MODELS_FILE, env={})
    assert set(registry.names()) == set(PRESETS)
    for name, (flavour, prompt_format) in PRESETS.items():
        spec = registry.get(name)
        assert spec.flavour is flavour, name
        assert spec.url.startswith(("http://", "https://")), name
        if prompt_format is not None:
            assert spec.prompt_format == prompt_format, name


def test_the_local_model_is_the_default_and_code_falls_back_to_it() -> None:
    registry = load_registry(MODELS_FILE, env={})
    assert registry.default == "smollm2-local"
    assert registry.default_for("code") == "smollm2-local"
    assert registry.default_for("chat") == "smollm2-local"


def test_code_can_be_routed_to_code_llama_by_environment() -> None:
    registry = load_registry(MODELS_FILE, env={"TERTULIA_CODE_MODEL": "codellama-instruct"})
    assert registry.default_for("code") == "codellama-instruct"
    assert registry.default_for("translate") == "smollm2-local"


def test_an_unknown_job_model_falls_back_to_the_default() -> None:
    registry = load_registry(MODELS_FILE, env={"TERTULIA_CODE_MODEL": "no-such-model"})
    assert registry.default_for("code") == "smollm2-local"


def test_default_model_from_the_environment_and_from_the_override() -> None:
    assert load_registry(MODELS_FILE, env={"TERTULIA_MODEL": "tgi"}).default == "tgi"
    assert load_registry(MODELS_FILE, env={}, default_override="gemini").default == "gemini"
    with pytest.raises(ValueError, match="nope"):
        load_registry(MODELS_FILE, env={"TERTULIA_MODEL": "nope"})


def test_two_entries_point_at_two_endpoints_set_by_environment() -> None:
    # What the /model switching integration test relies on: a TGI entry and an
    # OpenAI-compatible entry, each at its own (fake) server.
    env = {
        "TERTULIA_TGI_URL": "http://127.0.0.1:40001",
        "TERTULIA_LOCAL_LLM_URL": "http://127.0.0.1:40002/v1",
        "TERTULIA_LLAMA2_URL": "http://127.0.0.1:40003",
        "TERTULIA_OPENAI_URL": "http://127.0.0.1:40004/v1",
        "TERTULIA_OPENAI_MODEL": "gpt-test",
    }
    registry = load_registry(MODELS_FILE, env=env)
    assert registry.get("tgi").url == "http://127.0.0.1:40001"
    assert registry.get("smollm2-local").url == "http://127.0.0.1:40002/v1"
    assert registry.get("llama-2-chat").url == "http://127.0.0.1:40003"
    assert (registry.get("gpt-4").url, registry.get("gpt-4").model_id) == ("http://127.0.0.1:40004/v1", "gpt-test")


def test_api_keys_are_read_from_the_named_variable_only(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry(MODELS_FILE, env={})
    assert registry.get("gpt-4").api_key_env == "OPENAI_API_KEY"
    assert registry.get("gemini").api_key_env == "GEMINI_API_KEY"
    assert registry.get("smollm2-local").api_key_env is None
    monkeypatch.setenv("GEMINI_API_KEY", "k-123")
    assert registry.get("gemini").api_key() == "k-123"
    assert "k-123" not in repr(registry.get("gemini"))


def test_gemini_uses_googles_openai_compatible_endpoint() -> None:
    spec = load_registry(MODELS_FILE, env={}).get("gemini")
    assert spec.url == "https://generativelanguage.googleapis.com/v1beta/openai"
    assert spec.model_id.startswith("gemini-")


def test_tgi_presets_get_their_familys_stop_sequences() -> None:
    registry = load_registry(MODELS_FILE, env={})
    assert "\nUser:" in registry.get("falcon-instruct").stop
    assert "[INST]" in registry.get("codellama-instruct").stop
    assert registry.get("gpt-4").stop == ()  # a chat API applies its own template


def test_every_tgi_preset_renders_a_prompt() -> None:
    registry = load_registry(MODELS_FILE, env={})
    messages = (ChatTurn(role="system", content="Be brief."), ChatTurn(role="user", content="Hi"))
    for name in registry.names():
        spec = registry.get(name)
        if spec.flavour is Flavour.TGI:
            assert spec.prompt_format in FORMATS
            assert "Hi" in render_prompt(spec.prompt_format, messages)


def test_generation_defaults_are_typed() -> None:
    spec = load_registry(MODELS_FILE, env={"TERTULIA_LOCAL_MAX_NEW_TOKENS": "64"}).get("smollm2-local")
    assert spec.max_new_tokens == 64
    assert spec.max_total_tokens == 2048
    assert spec.temperature == pytest.approx(0.2)


def test_an_unknown_prompt_format_fails_at_load_time(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.x]\nflavour = "tgi"\nurl = "http://127.0.0.1:1"\nprompt_format = "alpaca"\n')
    with pytest.raises(ValueError, match="alpaca"):
        load_registry(path, env={})


def test_expand_defaults_and_empty_values() -> None:
    assert expand("${A:-x}", {}) == "x"
    assert expand("${A:-x}", {"A": ""}) == "x"  # empty counts as unset, like the shell's :-
    assert expand("${A}", {"A": "y"}) == "y"
    assert expand("a-${B}-c", {}) == "a--c"


def test_vision_is_marked_where_the_model_sees_images_and_the_local_default_stays_text_only() -> None:
    registry = load_registry(MODELS_FILE, env={})
    assert set(registry.vision_models()) == {"tgi-vision", "gpt-4", "gemini"}
    assert not registry.get(registry.default).vision
    assert registry.get("tgi-vision").image_tokens == 2048


def test_vision_on_a_raw_prompt_api_fails_at_load_time(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.x]\nflavour = "tgi"\nurl = "http://h"\nvision = true\n')
    with pytest.raises(ValueError, match="vision"):
        load_registry(path, env={})
