"""A model behind TGI's native API: ``/generate_stream`` (with ``details`` and ``grammar``),
``/info``, ``/tokenize`` and ``/health``.

Generation POSTs ``/generate_stream`` on urllib3 (worker/llm/streams.py) and reads the SSE
lines itself: ``InferenceClient.text_generation`` parsed every event into dataclasses, and
httpx's response machinery cost more than the JSON per token (docs/decisions.md, "The worker's
cost per stream"). The small JSON calls use huggingface_hub's shared httpx session, with
timeouts of their own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson

from core.errors import ModelError, ModelStalled
from core.models import ModelSpec
from core.ports import ChatTurn, GenerationRequest, ModelInfo, TokenStream, Usage
from core.prompts import render_prompt
from core.settings import Settings
from worker.llm.common import (
    CountCache,
    StopTrimmer,
    answers_ok,
    auth_headers,
    ensure_session,
    estimate_tokens,
    first_token_timeout,
    pick,
    sampling,
)
from worker.llm.errors import event_error, http_error, stall_message, stream_fault
from worker.llm.streams import StreamedPost, chunks, error_reply, socket_of
from worker.llm.watch import watching

_FALLBACK_INFO_SECONDS = 5.0  # a server that could not say its limits is asked again soon

log = logging.getLogger(__name__)

# Used when neither /info nor the registry gives the limits (TGI's own defaults).
DEFAULT_MAX_INPUT_TOKENS = 1024
# TGI rejects more than max_stop_sequences (4 by default).
_MAX_STOPS = 4
# Extra generation parameters of TGI's GenerateParameters that a request may carry.
_TGI_EXTRA = frozenset(
    {"repetition_penalty", "frequency_penalty", "top_k", "typical_p", "seed", "truncate", "do_sample", "watermark"}
)


class TGIClient:
    """One TGI endpoint. Safe to share between threads: no per-call state lives on it."""

    def __init__(self, spec: ModelSpec, *, settings: Settings, health_timeout: float = 2.0) -> None:
        self.name = spec.name
        self.spec = spec
        self._base = spec.url.rstrip("/")
        self._request_timeout = settings.request_timeout
        self._token_timeout = settings.token_timeout
        self._first_token_timeout = first_token_timeout(
            request_timeout=settings.request_timeout, token_timeout=settings.token_timeout
        )
        self._health_timeout = health_timeout
        self._session = ensure_session(max_keepalive=max(settings.worker_concurrency, 16))
        self._streams = StreamedPost(self._base, max_connections=max(settings.worker_concurrency, 16))
        self._headers = {k: v for k, v in auth_headers(spec.api_key()).items() if v is not None}
        self._counts = CountCache()
        self._tokenizer = True  # False once the server said it has no /tokenize
        self._info_ttl = settings.info_ttl_seconds
        self._info_lock = threading.Lock()
        self._info_cache: tuple[ModelInfo, float] | None = None  # (info, trusted until)

    # --- limits and tokens ---------------------------------------------------------------

    def info(self) -> ModelInfo:
        """``/info``, trusted for ``info_ttl_seconds`` so a job does not pay a GET each time
        while a server redeployed with other limits is still seen soon; the registry's limits
        (or TGI's defaults) when it can't be read, retried after a few seconds."""
        now = time.monotonic()
        with self._info_lock:
            cached = self._info_cache
        if cached is not None and now < cached[1]:
            return cached[0]
        info, from_server = self._fetch_info()
        ttl = self._info_ttl if from_server else min(self._info_ttl, _FALLBACK_INFO_SECONDS)
        with self._info_lock:
            self._info_cache = (info, now + ttl)
        return info

    def _fetch_info(self) -> tuple[ModelInfo, bool]:
        try:
            response = self._session.get(f"{self._base}/info", headers=self._headers, timeout=self._request_timeout)
            if response.status_code == 200:
                data = response.json()
                return (
                    ModelInfo(max_input_tokens=int(data.get("max_input_tokens") or data["max_input_length"])),
                    True,
                )
            log.warning("GET /info of %s answered %s; using the registry limits", self.name, response.status_code)
        except Exception as exc:  # any failure: the registry's limits still let the job run
            log.warning("GET /info of %s failed (%s); using the registry limits", self.name, type(exc).__name__)
        return self._fallback_info(), False

    def _fallback_info(self) -> ModelInfo:
        max_input = self.spec.max_input_tokens or DEFAULT_MAX_INPUT_TOKENS
        return ModelInfo(max_input_tokens=max_input)

    def count_tokens(self, text: str) -> int:
        """TGI's ``/tokenize`` (the model's own tokenizer); ``estimate_tokens`` when the
        server has no fast tokenizer (404) or can't be reached."""
        cached = self._counts.get(text)
        if cached is not None:
            return cached
        if self._tokenizer:
            try:
                response = self._session.post(
                    f"{self._base}/tokenize",
                    json={"inputs": text},
                    headers=self._headers,
                    timeout=self._request_timeout,
                )
                if response.status_code == 200:
                    count = len(response.json())
                    self._counts.put(text, count)
                    return count
                if response.status_code == 404:
                    self._tokenizer = False  # "No fast tokenizer available": it won't appear later
            except Exception as exc:
                log.warning("POST /tokenize of %s failed (%s); estimating", self.name, type(exc).__name__)
        return estimate_tokens(text)

    def render(self, messages: tuple[ChatTurn, ...]) -> str:
        return render_prompt(self.spec.prompt_format, messages)

    def healthy(self) -> bool:
        return answers_ok(self._session, f"{self._base}/health", headers=self._headers, timeout=self._health_timeout)

    # --- generation ----------------------------------------------------------------------

    def stream(self, request: GenerationRequest) -> TokenStream:
        usage = Usage()
        return TokenStream(self._generate(request, usage), usage)

    def _parameters(self, request: GenerationRequest) -> dict[str, Any]:
        spec = self.spec
        temperature, top_p = sampling(request, spec)
        # The command's stops, then the preset's (ModelSpec derives a raw format's turn markers).
        stops = _unique((*request.stop, *spec.stop))[:_MAX_STOPS]
        params: dict[str, Any] = {
            **pick(spec.extra, _TGI_EXTRA),
            **pick(request.extra, _TGI_EXTRA),
            "details": True,
            "max_new_tokens": request.max_new_tokens,
            "stop": list(stops) or None,
            # TGI rejects temperature <= 0 and top_p outside (0, 1): those mean "greedy".
            "temperature": temperature if temperature and temperature > 0 else None,
            "top_p": top_p if top_p is not None and 0 < top_p < 1 else None,
        }
        if params["temperature"] is not None or params["top_p"] is not None:
            params.setdefault("do_sample", True)
        if request.json_schema is not None:
            params["grammar"] = {"type": "json", "value": request.json_schema}
        return params

    def _generate(self, request: GenerationRequest, usage: Usage) -> Iterator[str]:
        # A continuation (request.prefix) goes on from the answer so far: the rendered prompt
        # ends with the assistant's turn open, so the text follows with no end of turn.
        prompt = self.render(request.messages) + request.prefix
        params = self._parameters(request)
        trimmer = StopTrimmer(tuple(params.get("stop") or ()))
        body = {"inputs": prompt, "parameters": {k: v for k, v in params.items() if v is not None}, "stream": True}
        where = f"model {self.name!r} at {self._base}"
        with watching(first=self._first_token_timeout, between=self._token_timeout) as watch:
            try:
                with self._streams.post(
                    f"{self._base}/generate_stream", body=body, headers=self._headers,
                    connect=self._request_timeout, read=self._first_token_timeout,
                ) as response:  # fmt: skip
                    watch.attach_socket(socket_of(response))
                    if response.status != 200:
                        raise http_error(error_reply(response), where=where)
                    finished = False
                    events = sse_data(chunks(response))
                    for data in events:
                        event = orjson.loads(data)
                        if "error" in event:
                            raise event_error(event, where=where)
                        watch.tick()
                        token = event["token"]
                        if not token.get("special"):
                            shown = trimmer.feed(token["text"])
                            if shown:
                                watch.pause()
                                yield shown
                                watch.resume()
                        details = event.get("details")
                        if event.get("generated_text") is not None or details is not None:
                            finished = True
                            if details is not None:
                                usage.generated_tokens = details["generated_tokens"]
                                usage.prompt_tokens = details.get("input_length")
                                usage.finish_reason = str(details["finish_reason"])
                            for _ in events:  # only the body's end is left: the connection is reused
                                pass
                            break
                if not finished:
                    if watch.fired:
                        raise ModelStalled(stall_message(where, self._token_timeout))
                    raise ModelStalled(f"{where}: the stream ended before its final event")
                rest = trimmer.flush()
                if rest:
                    yield rest
            except ModelError:
                raise
            except Exception as exc:
                mapped = stream_fault(exc, where=where, stalled=watch.fired, token_timeout=self._token_timeout)
                if mapped is None:
                    raise
                raise mapped from exc


def sse_data(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The payloads of an SSE stream's ``data:`` lines; comments (TGI's keep-alive ``:``),
    blank lines and other fields are skipped. Split on bytes: httpx's ``iter_lines`` decodes
    text and splits it again, layers that cost as much as the JSON per token."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].rstrip(b"\r")
    if rest.startswith(b"data:"):
        yield rest[5:].rstrip(b"\r")


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for s in items if s))
