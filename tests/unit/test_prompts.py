"""Each preset family's prompt against its official format, byte for byte.

Two independent references per family: the literal expected string (cross-checked with the
outputs that transformers produced in mistral.rs' and TGI's own template tests), and the
official Jinja template text rendered here (tests/unit/data/chat_templates/README.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.ports import ChatTurn
from core.prompts import FORMATS, render_prompt, stop_sequences

TEMPLATES = Path(__file__).parent / "data" / "chat_templates"

SYSTEM = ChatTurn(role="system", content="You are a helpful assistant")
MULTI_TURN = (
    SYSTEM,
    ChatTurn(role="user", content="Hello"),
    ChatTurn(role="assistant", content="Hi there"),
    ChatTurn(role="user", content="Who are you"),
    ChatTurn(role="assistant", content="   I am an assistant   "),
    ChatTurn(role="user", content="Another question"),
)
NO_SYSTEM = MULTI_TURN[1:]
SINGLE = (SYSTEM, ChatTurn(role="user", content="Translate to German: I love machine learning."))


def render_official(template_file: str, messages: tuple[ChatTurn, ...], **special: str) -> str:
    """Render like transformers' ``apply_chat_template(tokenize=False, add_generation_prompt=True)``."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    template = env.from_string((TEMPLATES / template_file).read_text())
    payload: list[dict[str, Any]] = [{"role": m.role, "content": m.content} for m in messages]
    return template.render(messages=payload, add_generation_prompt=True, **special)


# --- Llama 2 chat / Code Llama instruct -------------------------------------------------

# What transformers renders for meta-llama/Llama-2-13b-chat-hf (mistral.rs test fixture).
LLAMA2_EXPECTED_WITH_BOS = (
    "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
    "<s>[INST] Who are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]"
)


def test_llama2_matches_the_official_output_without_the_leading_bos() -> None:
    # TGI's tokenizer adds the first <s> itself (add_special_tokens=True on /generate).
    assert render_prompt("llama-2", MULTI_TURN) == LLAMA2_EXPECTED_WITH_BOS.removeprefix("<s>")


@pytest.mark.parametrize("template", ["llama-2-chat.jinja", "codellama-instruct.jinja"])
@pytest.mark.parametrize("messages", [MULTI_TURN, NO_SYSTEM, SINGLE], ids=["multi", "no-system", "single"])
def test_llama2_family_matches_the_hf_template(template: str, messages: tuple[ChatTurn, ...]) -> None:
    official = render_official(template, messages, bos_token="<s>", eos_token="</s>")
    assert official.startswith("<s>")
    assert "<s>" + render_prompt("llama-2", messages) == official


def meta_reference(messages: tuple[ChatTurn, ...]) -> list[str]:
    """Meta's llama/generation.py ``chat_completion`` as the pieces it encodes; BOS/EOS are
    the ids it adds, written here as their text."""
    b_inst, e_inst = "[INST]", "[/INST]"
    b_sys, e_sys = "<<SYS>>\n", "\n<</SYS>>\n\n"
    dialog = [{"role": m.role, "content": m.content} for m in messages]
    if dialog[0]["role"] == "system":
        first = {"role": dialog[1]["role"], "content": b_sys + dialog[0]["content"] + e_sys + dialog[1]["content"]}
        dialog = [first, *dialog[2:]]
    pieces = [
        "<s>" + f"{b_inst} {prompt['content'].strip()} {e_inst} {answer['content'].strip()} " + "</s>"
        for prompt, answer in zip(dialog[::2], dialog[1::2], strict=False)
    ]
    pieces.append("<s>" + f"{b_inst} {dialog[-1]['content'].strip()} {e_inst}")
    return pieces


@pytest.mark.parametrize("messages", [MULTI_TURN, NO_SYSTEM, SINGLE], ids=["multi", "no-system", "single"])
def test_llama2_matches_metas_reference(messages: tuple[ChatTurn, ...]) -> None:
    assert "<s>" + render_prompt("llama-2", messages) == "".join(meta_reference(messages))


def test_llama2_merges_consecutive_user_turns_instead_of_failing() -> None:
    messages = (ChatTurn(role="user", content="one"), ChatTurn(role="user", content="two"))
    assert render_prompt("llama-2", messages) == "[INST] one\n\ntwo [/INST]"


# --- Falcon-instruct ---------------------------------------------------------------------


def test_falcon_matches_the_official_format() -> None:
    expected = (
        "User: Hello\nAssistant: Hi there\nUser: Who are you\n"
        "Assistant:    I am an assistant   \nUser: Another question\nAssistant:"
    )
    assert render_prompt("falcon", NO_SYSTEM) == expected


@pytest.mark.parametrize("messages", [NO_SYSTEM, SINGLE[1:]], ids=["multi", "single"])
def test_falcon_matches_the_template(messages: tuple[ChatTurn, ...]) -> None:
    # Falcon's tokenizer has no BOS token: the template's bos_token renders empty.
    assert render_prompt("falcon", messages) == render_official("falcon-instruct.jinja", messages, bos_token="")


def test_falcon_puts_the_system_text_first() -> None:
    # The official format has no system role; ours goes on the first line (docs/models.md).
    assert render_prompt("falcon", SINGLE) == (
        "You are a helpful assistant\nUser: Translate to German: I love machine learning.\nAssistant:"
    )


# --- ChatML (SmolLM2) -------------------------------------------------------------------


def test_chatml_matches_the_smollm2_output() -> None:
    expected = (
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
        "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
        "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert render_prompt("chatml", MULTI_TURN) == expected


@pytest.mark.parametrize("messages", [MULTI_TURN, SINGLE], ids=["multi", "single"])
def test_chatml_matches_the_smollm2_template(messages: tuple[ChatTurn, ...]) -> None:
    assert render_prompt("chatml", messages) == render_official("smollm2-instruct.jinja", messages)


# --- plain instructions (BLOOMZ, Flan-T5) -----------------------------------------------


def test_plain_is_the_instruction_ending_clearly() -> None:
    assert render_prompt("plain", SINGLE) == (
        "You are a helpful assistant\n\nTranslate to German: I love machine learning.\n"
    )


def test_t5_is_the_bare_instruction() -> None:
    messages = (ChatTurn(role="user", content="  Translate to German: I love machine learning. "),)
    assert render_prompt("t5", messages) == "Translate to German: I love machine learning."


@pytest.mark.parametrize("name", ["plain", "t5"])
def test_instruction_formats_see_only_the_latest_request(name: str) -> None:
    rendered = render_prompt(name, NO_SYSTEM)
    assert "Another question" in rendered
    assert "Hello" not in rendered and "Hi there" not in rendered


# --- common -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_refuses_a_prompt_that_does_not_end_with_the_user(name: str) -> None:
    with pytest.raises(ValueError):
        render_prompt(name, MULTI_TURN[:-1])


def test_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="chatml"):
        render_prompt("alpaca", SINGLE)


def test_stop_sequences_per_family() -> None:
    assert "\nUser:" in stop_sequences("falcon")
    assert "<|im_end|>" in stop_sequences("chatml")
    assert "[INST]" in stop_sequences("llama-2")
    assert stop_sequences("t5") == ()
