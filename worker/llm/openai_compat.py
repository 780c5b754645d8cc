"""A model behind an OpenAI-compatible ``/chat/completions`` (llama-cpp-python's server,
TGI's ``/v1`` route, OpenAI, Gemini's compatibility endpoint), streamed.

``spec.url`` is the OpenAI ``base_url`` (``https://api.openai.com/v1``,
``http://127.0.0.1:8089/v1``); a bare host gets ``/v1``. The server applies the model's own
chat template, so messages go as they are.

JSON Schema constraints (``spec.extra["json_mode"]``):

* ``json_object_schema``: ``{"type": "json_object", "schema": S, "value": S}``, which both
  llama-cpp-python (``schema``) and TGI (``GrammarType``, ``value``; serde ignores the
  other key) accept;
* ``json_schema`` (default): OpenAI's ``{"type": "json_schema", "json_schema": {...}}``
  (OpenAI, Gemini). huggingface_hub rewrites that form into TGI's when the model is a URL,
  so those requests go out on the same shared session without ``InferenceClient``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, cast
from urllib.parse import urlparse

import orjson
from huggingface_hub import ChatCompletionStreamOutput, InferenceClient

from core.errors import ModelError, ModelStalled
from core.instructions import CONTINUE_INSTRUCTION
from core.models import ModelSpec
from core.ports import ChatTurn, GenerationRequest, ModelInfo, TokenStream, Usage
from core.prompts import neutralise, render_prompt, stop_sequences
from core.settings import Settings
from worker.llm.common import (
    CountCache,
    answers_ok,
    auth_headers,
    ensure_session,
    estimate_tokens,
    first_token_timeout,
    pick,
    sampling,
    stream_timeout,
)
from worker.llm.errors import from_event_message, from_status, server_reason, stall_message, stream_fault
from worker.llm.tgi import DEFAULT_MAX_INPUT_TOKENS
from worker.llm.watch import watching

log = logging.getLogger(__name__)

_OPENAI_EXTRA = frozenset({"seed", "presence_penalty", "frequency_penalty", "logit_bias", "top_logprobs"})
_JSON_MODES = ("json_schema", "json_object_schema")
# How a cut answer is continued (spec.extra["continuation"], docs/models.md):
#   final_message: the answer so far as a final assistant message, with vLLM's
#     ``continue_final_message`` / ``add_generation_prompt`` (TGI's Messages API reads the
#     first and ignores the second): the template leaves that message open, the text follows on;
#   completion: the raw /completions API with the prompt rendered in prompt_format and the
#     answer so far after it (llama-cpp-python, which has no continue_final_message);
#   instruction: for APIs without a prefill (OpenAI, Gemini): the answer so far, then a user
#     turn asking for the rest; the model is asked, not forced, to follow on.
_CONTINUATIONS = ("final_message", "instruction", "completion")


def chat_base(url: str) -> str:
    base = url.rstrip("/")
    return base + "/v1" if urlparse(base).path in ("", "/") else base


def chat_messages(turns: tuple[ChatTurn, ...]) -> list[dict[str, Any]]:
    """The messages as sent. Servers that render a chat template into text (llama.cpp, TGI's
    ``/v1``) tokenize it with special tokens parsed, so each turn's text is neutralised as
    the raw formats' are (core/prompts.py); for OpenAI or Gemini that changes nothing visible.
    A turn with images becomes content parts: its text, then one ``image_url`` part per image
    as a base64 data URL (OpenAI's vision input; TGI's Messages API takes the same for
    vision models such as Idefics or LLaVA-Next)."""
    return [{"role": m.role, "content": _content(m)} for m in turns]


def _content(turn: ChatTurn) -> str | list[dict[str, Any]]:
    text = neutralise(turn.content)
    if not turn.images:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts.extend({"type": "image_url", "image_url": {"url": image.data_url()}} for image in turn.images)
    return parts


def response_format(schema: dict[str, Any], mode: str) -> dict[str, Any]:
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema, "value": schema}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


class OpenAICompatClient:
    """One OpenAI-compatible endpoint; safe to share between threads."""

    def __init__(self, spec: ModelSpec, *, settings: Settings, health_timeout: float = 2.0) -> None:
        self.name = spec.name
        self.spec = spec
        self._base = chat_base(spec.url)
        # Where a server keeps its non-OpenAI extras (TGI /tokenize, llama.cpp /extras/...).
        self._root = self._base.removesuffix("/v1")
        self._request_timeout = settings.request_timeout
        self._timeout = stream_timeout(request_timeout=settings.request_timeout, token_timeout=settings.token_timeout)
        self._token_timeout = settings.token_timeout
        self._first_token_timeout = first_token_timeout(
            request_timeout=settings.request_timeout, token_timeout=settings.token_timeout
        )
        self._health_timeout = health_timeout
        self._session = ensure_session(max_keepalive=max(settings.worker_concurrency, 16))
        self._json_mode = str(spec.extra.get("json_mode") or "json_schema")
        if self._json_mode not in _JSON_MODES:
            raise ValueError(f"model {spec.name!r}: json_mode must be one of {_JSON_MODES}, not {self._json_mode!r}")
        self._continuation = str(spec.extra.get("continuation") or "final_message")
        if self._continuation not in _CONTINUATIONS:
            raise ValueError(
                f"model {spec.name!r}: continuation must be one of {_CONTINUATIONS}, not {self._continuation!r}"
            )
        self._counts = CountCache()
        self._tokenizer: str | None = None  # "tgi", "llama.cpp" or "none" once probed

    def _headers(self) -> dict[str, str]:
        # Read per call: a key rotated in the environment is picked up without a restart.
        return {k: v for k, v in auth_headers(self.spec.api_key()).items() if v is not None}

    # --- limits and tokens ---------------------------------------------------------------

    def info(self) -> ModelInfo:
        """OpenAI-compatible servers publish no limits: the registry's (or defaults)."""
        max_input = self.spec.max_input_tokens or DEFAULT_MAX_INPUT_TOKENS
        return ModelInfo(max_input_tokens=max_input)

    def render(self, messages: tuple[ChatTurn, ...]) -> str:
        """The server applies its own template; this rendering (the registry's
        ``prompt_format``, ChatML by default) is for counting tokens only."""
        return render_prompt(self.spec.prompt_format, messages)

    def count_tokens(self, text: str) -> int:
        """The server's tokenizer where it has one (TGI ``/tokenize``, llama-cpp-python
        ``/extras/tokenize/count``), found by asking once; else ``estimate_tokens``."""
        cached = self._counts.get(text)
        if cached is not None:
            return cached
        try:
            count = self._server_count(text)
        except Exception as exc:
            log.warning("token count of %s failed (%s); estimating", self.name, type(exc).__name__)
            count = None
        if count is None:
            return estimate_tokens(text)
        self._counts.put(text, count)
        return count

    def _server_count(self, text: str) -> int | None:
        kinds = [self._tokenizer] if self._tokenizer else ["tgi", "llama.cpp"]
        for kind in kinds:
            if kind == "none":
                return None
            if kind == "tgi":
                found = _json_or_none(self._post(f"{self._root}/tokenize", {"inputs": text}))
                if isinstance(found, list):
                    self._tokenizer = "tgi"
                    return len(found)
            else:
                found = _json_or_none(self._post(f"{self._root}/extras/tokenize/count", {"input": text}))
                if isinstance(found, dict) and isinstance(found.get("count"), int):
                    self._tokenizer = "llama.cpp"
                    return int(found["count"])
        # Both answered and neither is a tokenizer (OpenAI, Gemini): don't ask again.
        self._tokenizer = "none"
        return None

    def _post(self, url: str, body: dict[str, Any]) -> Any:
        return self._session.post(url, json=body, headers=self._headers(), timeout=self._request_timeout)

    def healthy(self) -> bool:
        return answers_ok(self._session, f"{self._base}/models", headers=self._headers(), timeout=self._health_timeout)

    # --- generation ----------------------------------------------------------------------

    def stream(self, request: GenerationRequest) -> TokenStream:
        usage = Usage()
        return TokenStream(self._generate(request, usage), usage)

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        spec = self.spec
        temperature, top_p = sampling(request, spec)
        stops = list(dict.fromkeys(s for s in (*request.stop, *spec.stop) if s))
        payload: dict[str, Any] = {
            **pick(spec.extra, _OPENAI_EXTRA),
            **pick(request.extra, _OPENAI_EXTRA),
            "max_tokens": request.max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "stop": stops or None,
            "stream_options": {"include_usage": True},
        }
        if request.json_schema is not None:
            payload["response_format"] = response_format(request.json_schema, self._json_mode)
        if request.prefix and self._continuation == "final_message":
            payload["continue_final_message"] = True
            payload["add_generation_prompt"] = False  # vLLM refuses both at once
        return payload

    def _messages(self, request: GenerationRequest) -> list[dict[str, str]]:
        turns = request.messages
        if request.prefix:
            turns = (*turns, ChatTurn(role="assistant", content=request.prefix))
            if self._continuation == "instruction":
                turns = (*turns, ChatTurn(role="user", content=CONTINUE_INSTRUCTION))
        return chat_messages(turns)

    def _generate(self, request: GenerationRequest, usage: Usage) -> Iterator[str]:
        messages = self._messages(request)
        payload = self._payload(request)
        where = f"model {self.name!r} at {self._base}"
        client: InferenceClient | None = None
        chunks: Iterable[ChatCompletionStreamOutput]
        with watching(first=self._first_token_timeout, between=self._token_timeout) as watch:
            try:
                if request.prefix and self._continuation == "completion":
                    chunks = self._completion(request, payload)
                elif payload.get("response_format", {}).get("type") == "json_schema":
                    chunks = self._direct(messages, payload)
                else:
                    # One InferenceClient per call (see tgi.py); the pool underneath is shared.
                    client = InferenceClient(
                        base_url=f"{self._base}/chat/completions",
                        api_key=self.spec.api_key() or None,
                        timeout=cast(float, self._timeout),  # httpx accepts a Timeout wherever a float goes
                        headers=auth_headers(self.spec.api_key()),  # type: ignore[arg-type]
                    )
                    chunks = client.chat_completion(messages, model=self.spec.model_id, stream=True, extra_body=payload)
                finished = False
                for chunk in chunks:
                    watch.tick()
                    if chunk.usage is not None:
                        usage.prompt_tokens = chunk.usage.prompt_tokens
                        usage.generated_tokens = chunk.usage.completion_tokens
                    for choice in chunk.choices:
                        text = choice.delta.content if choice.delta is not None else None
                        if text:
                            watch.pause()
                            yield text
                            watch.resume()
                        if choice.finish_reason:
                            finished = True
                            usage.finish_reason = choice.finish_reason
                if not finished:
                    if watch.fired:
                        raise ModelStalled(stall_message(where, self._token_timeout))
                    raise ModelStalled(f"{where}: the stream ended without a finish_reason")
            except ModelError:
                raise
            except Exception as exc:
                mapped = stream_fault(exc, where=where, stalled=watch.fired, token_timeout=self._token_timeout)
                if mapped is None:
                    raise
                raise mapped from exc
            finally:
                if client is not None:
                    client.close()  # type: ignore[no-untyped-call]

    def _direct(self, messages: list[dict[str, Any]], payload: dict[str, Any]) -> Iterator[ChatCompletionStreamOutput]:
        """The same request as ``chat_completion`` sends, posted on the shared session, for
        the one form huggingface_hub would rewrite (OpenAI's ``json_schema``)."""
        body = {"model": self.spec.model_id, "messages": messages, "stream": True}
        body.update({k: v for k, v in payload.items() if v is not None})
        for event in self._sse("chat/completions", body):
            yield ChatCompletionStreamOutput.parse_obj_as_instance(event)

    def _completion(self, request: GenerationRequest, payload: dict[str, Any]) -> Iterator[ChatCompletionStreamOutput]:
        """A continuation through the raw ``/completions`` API (continuation = "completion":
        llama-cpp-python, whose chat route cannot leave an assistant message open): the
        prompt rendered in ``prompt_format`` with the answer so far after it, no end of turn.
        Its chunks (``choices[].text``) are read as chat chunks, so one loop reads both."""
        body: dict[str, Any] = {
            "model": self.spec.model_id,
            "prompt": self.render(request.messages) + request.prefix,
            "stream": True,
        }
        wanted = ("max_tokens", "temperature", "top_p", "stop", *_OPENAI_EXTRA)
        body.update({k: v for k, v in payload.items() if k in wanted and v is not None})
        # The raw prompt needs its format's turn markers as stops, as TGI native does.
        stops = [*(body.get("stop") or []), *stop_sequences(self.spec.prompt_format)]
        body["stop"] = list(dict.fromkeys(stops)) or None
        for event in self._sse("completions", body):
            choices = [
                {
                    "index": c.get("index", 0),
                    "delta": {"role": "assistant", "content": c.get("text") or ""},
                    "finish_reason": c.get("finish_reason"),
                }
                for c in event.get("choices") or []
            ]
            yield ChatCompletionStreamOutput.parse_obj_as_instance({**event, "choices": choices})

    def _sse(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The events of one streamed POST on the shared session, up to ``[DONE]``."""
        with self._session.stream(
            "POST", f"{self._base}/{path}", json=body, headers=self._headers(), timeout=self._timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                reason = server_reason(response) or response.text[:500]
                raise from_status(response.status_code, f"{reason}\nHTTP {response.status_code}")
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                event = orjson.loads(data)
                error = event.get("error") if isinstance(event, dict) else None
                if error is not None:
                    message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
                    raise from_event_message(str(message))
                yield event


def _json_or_none(response: Any) -> Any:
    """The JSON body of a 200, else None (a 404 page of a server without the route)."""
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None
