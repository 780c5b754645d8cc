"""What the fake TGI server says: a deterministic tokenizer, the default reply, and JSON
that satisfies the schema of a grammar-constrained request.

Everything here is pure and deterministic so tests can predict token counts and texts.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

# One token per word and one per punctuation mark: "Hello, world!" is 4 tokens.
_TOKEN = re.compile(r"\w+|[^\w\s]")
# Stream pieces keep their leading whitespace, so joining them gives the text back.
_PIECE = re.compile(r"\s*\S+|\s+")
_MAX_PIECE = 12

# Where a user turn starts and where it ends, in the prompt formats the project renders.
_USER_STARTS = ("<|im_start|>user\n", "[INST]", "User:", "<start_of_turn>user\n", "<|user|>")
_USER_ENDS = ("<|im_end|>", "[/INST]", "\nAssistant:", "<end_of_turn>", "<|end|>", "</s>")
_SYS_BLOCK = re.compile(r"<<SYS>>.*?<</SYS>>", re.S)

# Capitalised words that start sentences or instructions rather than name anything.
_NOT_NAMES = frozenset(
    re.split(
        r"\s+",
        "A An And As At But By For From He Her His How I If In Into It Its List Extract Find Give Me My Name Named "
        "No Not Of On Or Our She So Some Text That The Their Then There These They This Those To We What When Where "
        "Which Who Why With You Your Return Answer Entities JSON Output Input Here Please",
    )
)
_NAME_RUN = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")


def token_spans(text: str) -> list[dict[str, Any]]:
    """TGI's ``/tokenize`` answer shape: ``[{id, text, start, stop}]``."""
    return [
        {"id": token_id(m.group()), "text": m.group(), "start": m.start(), "stop": m.end()}
        for m in _TOKEN.finditer(text)
    ]


def count_tokens(text: str) -> int:
    return sum(1 for _ in _TOKEN.finditer(text))


def token_id(text: str) -> int:
    return zlib.crc32(text.encode()) % 32_000 + 3  # 0-2 are the special tokens


def pieces(text: str) -> list[str]:
    """The reply as streamed tokens: words with their leading space, long runs split."""
    out: list[str] = []
    for piece in _PIECE.findall(text):
        out.extend(piece[i : i + _MAX_PIECE] for i in range(0, len(piece), _MAX_PIECE))
    return out


def last_user_text(prompt: str) -> str:
    """The latest user turn of a rendered prompt (ChatML, Llama 2, Falcon...), or the
    whole prompt when it has no turn markers (plain instructions)."""
    start, marker = max(((prompt.rfind(m), m) for m in _USER_STARTS), key=lambda found: found[0])
    text = prompt[start + len(marker) :] if start >= 0 else prompt
    ends = [i for i in (text.find(m) for m in _USER_ENDS) if i >= 0]
    if ends:
        text = text[: min(ends)]
    return _SYS_BLOCK.sub("", text).strip()


# Where an assistant turn starts, and what ends it, in the same formats.
_ASSISTANT_TURNS = (
    ("<|im_start|>assistant\n", "<|im_end|>"),
    ("[/INST]", "</s>"),
    ("\nAssistant:", "\nUser:"),
    ("<start_of_turn>model\n", "<end_of_turn>"),
    ("<|assistant|>", "<|end|>"),
)


def assistant_prefix(prompt: str) -> str:
    """The text of a final assistant turn left open (a prompt that asks to go on with an
    answer: rendered prompt + the answer so far, no end of turn); "" for a fresh answer."""
    start, marker, end = max(
        ((prompt.rfind(m), m, e) for m, e in _ASSISTANT_TURNS), key=lambda found: found[0]
    )
    if start < 0:
        return ""
    text = prompt[start + len(marker) :]
    return "" if end in text else text


def continuation(reply: str, prefix: str) -> str:
    """What a deterministic model adds after ``prefix``: the rest of the reply it would have
    given, when the prefix is its start; otherwise the reply itself (a scripted rest)."""
    for start in (prefix, prefix.lstrip()):
        if start and reply.startswith(start):
            return reply[len(start) :]
    return reply


def chat_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, list):  # content parts
                return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            return str(content)
    return ""


def chat_prompt(messages: list[dict[str, Any]], *, continue_final: bool = False) -> str:
    """A stand-in chat template (ChatML) so chat requests have a prompt to count. Content
    parts become text as TGI's router makes them (chat.rs: an image is ``![](url)``); an
    image's data URL stands as ``![](<image>)`` so that its bytes are not counted as words.
    ``continue_final``: the last (assistant) message is left open, as a template applied
    with ``continue_final_message`` leaves it."""
    if continue_final and messages:
        last = messages[-1]
        return chat_prompt(messages[:-1]).removesuffix("<|im_start|>assistant\n") + (
            f"<|im_start|>{last.get('role')}\n{_content_text(last.get('content'))}"
        )
    body = "".join(f"<|im_start|>{m.get('role')}\n{_content_text(m.get('content'))}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


def _content_text(content: Any) -> str:
    if not isinstance(content, list):
        return str(content)
    out = []
    for part in content:
        if part.get("type") == "image_url":
            url = str(part["image_url"]["url"])
            out.append("![](<image>)" if url.startswith("data:") else f"![]({url})")
        else:
            out.append(str(part.get("text", "")))
    return "".join(out)


def content_error(messages: list[dict[str, Any]]) -> str | None:
    """What TGI's serde says of content it can't deserialise (MessageContent: a string or a
    list of ``{"type": "text", "text"}`` / ``{"type": "image_url", "image_url": {"url"}}``
    chunks), and of an image URL its validation can't load (a data URL must be base64)."""
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        bad = f"Failed to deserialize the JSON body into the target type: messages[{index}]: data did not match " \
              "any variant of untagged enum MessageContent"
        if not isinstance(content, list):
            return bad
        for part in content:
            if not isinstance(part, dict):
                return bad
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                continue
            url = (part.get("image_url") or {}).get("url") if part.get("type") == "image_url" else None
            if not isinstance(url, str):
                return bad
            if url.startswith("data:"):
                header, _, data = url.partition(",")
                if not header.startswith("data:image/") or not header.endswith(";base64"):
                    return f"Input validation error: invalid image data URL: {header[:40]}"
                try:
                    base64.b64decode(data, validate=True)
                except ValueError:
                    return "Input validation error: invalid base64 image data"
            elif not url.startswith(("http://", "https://")):
                return f"Input validation error: unsupported image URL: {url[:40]}"
    return None


def images_in(messages: list[dict[str, Any]]) -> list[str]:
    """The image URLs of a chat request's messages, in order."""
    return [str(part["image_url"]["url"]) for m in messages if isinstance(m.get("content"), list)
            for part in m["content"] if isinstance(part, dict) and part.get("type") == "image_url"]


def default_reply(user_text: str) -> str:
    lines = [line.strip() for line in user_text.splitlines() if line.strip()]
    return f"Echo: {lines[-1]}" if lines else "Echo:"


def names_in(text: str) -> list[str]:
    """Runs of capitalised words, minus sentence-starting function words."""
    found: list[str] = []
    for match in _NAME_RUN.finditer(text):
        words = match.group().split()
        while words and words[0] in _NOT_NAMES:
            words = words[1:]
        name = " ".join(words).strip("'-")
        if name and name not in found:
            found.append(name)
    return found


def schema_reply(schema: dict[str, Any], user_text: str) -> str:
    """JSON that validates against ``schema``. An array of objects with a ``text``
    property (the entities shape) is filled with the names found in the user text: a
    run of two or more capitalised words is a person, one word is ``other``."""
    return json.dumps(_Instance(schema, names_in(user_text)).build(schema), ensure_ascii=False)


class _Instance:
    def __init__(self, root: dict[str, Any], names: list[str]) -> None:
        self.root = root
        self.names = names

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.root
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return self.resolve(schema[key][0])
        return schema

    def build(self, schema: dict[str, Any], *, name: str | None = None) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if "enum" in schema:
            return schema["enum"][0]
        if kind == "object" or "properties" in schema:
            props: dict[str, Any] = schema.get("properties", {})
            return {key: self.build(sub, name=name) for key, sub in props.items()}
        if kind == "array":
            items = self.resolve(schema.get("items", {}))
            if "text" in items.get("properties", {}):
                return [self.entity(items, n) for n in self.names]
            return [self.build(items)] * int(schema.get("minItems", 0))
        if kind == "string":
            return name or ""
        if kind in ("integer", "number"):
            return schema.get("minimum", 0)
        if kind == "boolean":
            return False
        return None

    def entity(self, items: dict[str, Any], name: str) -> dict[str, Any]:
        entity: dict[str, Any] = {}
        for key, sub in items.get("properties", {}).items():
            sub = self.resolve(sub)
            if key == "text":
                entity[key] = name
            elif "enum" in sub:
                wanted = "person" if " " in name else "other"
                entity[key] = wanted if wanted in sub["enum"] else sub["enum"][-1]
            else:
                entity[key] = self.build(sub, name=name)
        return entity
