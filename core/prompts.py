"""Prompt formats for servers that take raw text (TGI's native ``/generate_stream``).

A chat API (OpenAI-compatible ``/v1/chat/completions``) applies the model's own chat
template, so these renderers are only used where the server has none. Each one
reproduces its family's official format byte for byte; ``tests/unit/test_prompts.py``
renders the official Jinja templates (vendored under ``tests/unit/data/``) and compares.

BOS handling: TGI tokenizes the ``inputs`` string with the tokenizer's default
``add_special_tokens=True``, so a Llama tokenizer already prepends ``<s>``. We therefore
omit the *leading* BOS that the Hugging Face template writes as text; every later
``<s>``/``</s>`` stays in the text, where the tokenizer parses it as the special token.
The result is token-for-token what Meta's reference ``chat_completion`` encodes.

Hygiene: every turn's text (the user's messages, files, threads, remembered turns) passes
``neutralise`` first, so nothing in it reads as a special token or a role marker: a
zero-width space goes after the first character of each (``<\u200b|im_end|>``,
``[\u200bINST]``), and before a ``User:``/``Assistant:``/``System:`` line in formats
whose turns are such lines. Clean text is unchanged, so the byte-for-byte checks hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from core.ports import ChatTurn

# Llama 2 / Code Llama (Meta's llama/generation.py and the HF chat template).
_B_INST, _E_INST = "[INST]", "[/INST]"
_B_SYS, _E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"
_LLAMA_BOS, _LLAMA_EOS = "<s>", "</s>"


# Zero width: the tokenizer sees two pieces where a special token was, the reader sees
# the same text. (U+200B is not removed by the normalizers of these tokenizers, and added
# tokens are matched on the raw text before any normalizer runs.)
BREAK = "\u200b"
# Special tokens and format markers of every family we render: ChatML/Qwen/Llama-3 style
# <|...|>, SentencePiece <s> </s> <unk> <pad>, T5 sentinels, Falcon's >>TITLE<< family,
# Llama 2's [INST] [/INST] <<SYS>> <</SYS>>.
_SPECIAL = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|</?s>|<unk>|<pad>|<extra_id_\d+>|>>[A-Z]{2,20}<<|\[/?INST\]|<</?SYS>>",
    re.IGNORECASE,
)
_ROLE_LINE = re.compile(r"^([ \t]*)(user|assistant|system|human)([ \t]*:)", re.IGNORECASE | re.MULTILINE)


def neutralise(text: str, *, role_lines: bool = False) -> str:
    """``text`` with every special token and format marker broken by a zero-width space,
    and with ``role_lines``, every line that starts like a ``User:`` turn too."""
    # Every marker holds a "<" or a "[": most texts have neither, and a membership test is
    # far cheaper than the pattern's scan (this runs on every turn of every prompt).
    if "<" in text or "[" in text:
        text = _SPECIAL.sub(lambda m: m.group(0)[0] + BREAK + m.group(0)[1:], text)
    if role_lines:
        text = _ROLE_LINE.sub(lambda m: m.group(1) + BREAK + m.group(2) + m.group(3), text)
    return text


def _clean(messages: tuple[ChatTurn, ...], *, role_lines: bool = False) -> tuple[ChatTurn, ...]:
    return tuple(ChatTurn(role=m.role, content=neutralise(m.content, role_lines=role_lines)) for m in messages)


@dataclass(frozen=True, kw_only=True)
class PromptFormat:
    name: str
    render: Callable[[tuple[ChatTurn, ...]], str]
    stop: tuple[str, ...]  # extra stop strings beyond the tokenizer's EOS
    description: str


def _split_system(messages: tuple[ChatTurn, ...]) -> tuple[str | None, list[ChatTurn]]:
    """The leading system turn (if any) and the rest. Later system turns are folded into
    the first one: none of these families has a mid-conversation system role."""
    systems = [m.content for m in messages if m.role == "system"]
    rest = [m for m in messages if m.role != "system"]
    return ("\n\n".join(systems) if systems else None), rest


def _alternating(turns: list[ChatTurn]) -> list[ChatTurn]:
    """Merge consecutive turns of one role so the user/assistant alternation that the
    Llama 2 template enforces (it raises otherwise) always holds."""
    merged: list[ChatTurn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            merged[-1] = ChatTurn(role=turn.role, content=f"{merged[-1].content}\n\n{turn.content}")
        else:
            merged.append(turn)
    return merged


def _require_user_last(turns: list[ChatTurn]) -> None:
    if not turns or turns[-1].role != "user":
        raise ValueError("a prompt must end with a user turn")


def render_llama2(messages: tuple[ChatTurn, ...]) -> str:
    system, rest = _split_system(_clean(messages))
    turns = _alternating(rest)
    _require_user_last(turns)
    if turns[0].role != "user":
        # The template requires the first non-system turn to be the user's.
        turns.insert(0, ChatTurn(role="user", content=""))
    out: list[str] = []
    for index, turn in enumerate(turns):
        content = turn.content
        if index == 0 and system is not None:
            content = _B_SYS + system + _E_SYS + content
        if turn.role == "user":
            out.append(_LLAMA_BOS + f"{_B_INST} {content.strip()} {_E_INST}")
        else:
            out.append(f" {content.strip()} {_LLAMA_EOS}")
    text = "".join(out)
    return text.removeprefix(_LLAMA_BOS)  # TGI's tokenizer adds this BOS itself


def render_falcon(messages: tuple[ChatTurn, ...]) -> str:
    """Falcon-7B/40B-instruct: ``User: ...`` / ``Assistant: ...`` lines, ending in
    ``Assistant:`` (the official format from tiiuae/falcon-7b-instruct discussion #1, as
    vLLM's ``template_falcon.jinja`` renders it). That template has no system role; we put
    the system text on the first line, before the turns (documented in docs/models.md)."""
    system, rest = _split_system(_clean(messages, role_lines=True))
    _require_user_last(rest)
    lines = [f"User: {m.content}" if m.role == "user" else f"Assistant: {m.content}" for m in rest]
    prefix = f"{system}\n" if system else ""
    return prefix + "\n".join(lines) + "\nAssistant:"


def render_chatml(messages: tuple[ChatTurn, ...]) -> str:
    """ChatML as SmolLM2-Instruct's template writes it. Without a system turn the SmolLM2
    template inserts its own default system line; we always send one, so it never does."""
    _require_user_last([m for m in messages if m.role != "system"])
    messages = _clean(messages)
    body = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


def _instruction(messages: tuple[ChatTurn, ...]) -> str:
    system, rest = _split_system(_clean(messages))
    _require_user_last(rest)
    request = rest[-1].content
    return f"{system}\n\n{request}" if system else request


def render_plain(messages: tuple[ChatTurn, ...]) -> str:
    """BLOOMZ: a plain instruction, no turns. The model card asks that the input end
    clearly (or the model continues it), so the prompt ends with a newline."""
    return _instruction(messages).rstrip() + "\n"


def render_t5(messages: tuple[ChatTurn, ...]) -> str:
    """Flan-T5: the encoder input is the instruction itself; the decoder starts fresh, so
    nothing marks where the answer begins (and T5's tokenizer drops newlines anyway)."""
    return _instruction(messages).strip()


FORMATS: dict[str, PromptFormat] = {
    "llama-2": PromptFormat(
        name="llama-2",
        render=render_llama2,
        stop=("</s>", "[INST]"),
        description="Llama 2 chat / Code Llama instruct: [INST] ... [/INST] with <<SYS>>",
    ),
    "falcon": PromptFormat(
        name="falcon",
        render=render_falcon,
        stop=("<|endoftext|>", "\nUser:"),
        description="Falcon-instruct: User: / Assistant: lines",
    ),
    "chatml": PromptFormat(
        name="chatml",
        render=render_chatml,
        stop=("<|im_end|>", "<|im_start|>"),
        description="ChatML: <|im_start|>role ... <|im_end|> (SmolLM2, Qwen, Hermes...)",
    ),
    "plain": PromptFormat(
        name="plain",
        render=render_plain,
        stop=("</s>",),
        description="A plain instruction (BLOOMZ)",
    ),
    "t5": PromptFormat(
        name="t5",
        render=render_t5,
        stop=(),
        description="A plain instruction for an encoder-decoder (Flan-T5)",
    ),
}


def prompt_format(name: str) -> PromptFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown prompt format {name!r}; known: {', '.join(FORMATS)}") from None


def render_prompt(format_name: str, messages: tuple[ChatTurn, ...]) -> str:
    """The raw prompt for ``messages``; it ends exactly where the model's answer begins."""
    return prompt_format(format_name).render(messages)


def stop_sequences(format_name: str) -> tuple[str, ...]:
    return prompt_format(format_name).stop
