"""A TGI-protocol server for tests: real HTTP on a loopback port, shaped after TGI's
``docs/openapi.json`` and ``router/src/server.rs``.

* ``POST /generate_stream``: SSE, one ``data: {StreamResponse}\\n\\n`` per token; the last
  event carries ``generated_text`` and ``details`` (finish_reason, generated_tokens,
  input_length, seed). Errors after the 200 are events ``{"error", "error_type"}``: TGI
  validates and queues *inside* the stream, so ``overloaded`` arrives that way.
* ``POST /generate`` and ``POST /`` (``stream`` flag; non-stream answers a one-item list).
* ``POST /v1/completions``: OpenAI's raw-prompt API (fakes/tgi_chat.py::text_completion).
* ``POST /v1/chat/completions``: stream (``chat.completion.chunk``, a usage chunk when
  ``stream_options.include_usage``, then ``data: [DONE]``) and non-stream. In-stream errors
  there are OpenAI-shaped ``{"error": {"message", "http_status_code": 422}}`` as TGI sends.
* ``GET /info``, ``GET /health``, ``POST /tokenize``, ``GET /v1/models``.

The Python control API (thread-safe) scripts replies, delays, limits and faults, and
records every request. The content (tokenizer, default reply, schema-valid JSON for
``grammar``/``response_format``) lives in ``fakes/tgi_content.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fakes import tgi_content as content
from fakes.sse import Drop, error_response
from fakes.tgi_chat import chat_completion, text_completion
from fakes.tgi_native import native_generation

FAULTS = (
    "http_429",  # HTTP 429 {"error": "Model is overloaded", "error_type": "overloaded"}
    "http_503",  # HTTP 503: the server is starting or a proxy lost it
    "http_422",  # HTTP 422 validation error
    "http_424",  # HTTP 424 generation error
    "overloaded_in_stream",  # 200, then an `overloaded` error event
    "validation_in_stream",  # 200, then a `validation` error event
    "generation_in_stream",  # 200, then a `generation` error event
    "stall",  # some tokens, then silence (connection kept open), then the rest
    "stall_keepalive",  # some tokens, then only SSE keep-alive comments (as TGI's axum sends), then the rest
    "close_mid_stream",  # some tokens, then the connection is dropped
)
KeepAlive = Callable[[], Awaitable[None]]
_STATUS = {"http_429": 429, "http_503": 503, "http_422": 422, "http_424": 424}
_ERRORS = {
    "overloaded": "Model is overloaded",
    "validation": "Input validation error: scripted fault",
    "generation": "Request failed during generation: scripted fault",
    "unavailable": "Service Unavailable",
}
_IN_STREAM = {
    "overloaded_in_stream": "overloaded",
    "validation_in_stream": "validation",
    "generation_in_stream": "generation",
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: Any  # the parsed JSON body (None for GET)
    peer: str = ""  # the client's host:port: one per connection, so kept-alive ones repeat


@dataclass(frozen=True)
class Disconnect:
    """A client that closed a stream before its end (TGI then cancels the generation)."""

    sent: int  # token events written before the write that found the connection gone
    total: int  # tokens the reply had


@dataclass
class Fault:
    kind: str
    after_tokens: int = 1
    stall_seconds: float = 30.0
    keepalive_seconds: float = 15.0  # TGI (axum's KeepAlive) sends ":" after 15 s of silence


@dataclass
class Plan:
    """One generation call: what to say and how."""

    prompt: str
    user_text: str
    schema: dict[str, Any] | None
    max_new_tokens: int | None
    stop: list[str]
    fault: Fault | None
    reply: str | None
    prefix: str = ""  # the answer so far, when the prompt asks to go on with it


class FakeTGI:
    def __init__(
        self, *, model_id: str = "fake/tgi-model", max_input_tokens: int = 1024, max_total_tokens: int = 2048
    ) -> None:
        self._defaults = (model_id, max_input_tokens, max_total_tokens)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> FakeTGI:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(port))
            except BaseException as exc:  # surfaced to start()'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-tgi-{port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    async def _serve(self, port: int) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            [
                web.post("/generate", self._generate),
                web.post("/generate_stream", self._generate_stream),
                web.post("/", self._compat),
                web.get("/info", self._info),
                web.get("/health", self._health),
                web.post("/tokenize", self._tokenize),
                web.post("/v1/chat/completions", self._chat),
                web.post("/v1/completions", self._completions),
                web.get("/v1/models", self._models),
            ]
        )
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still sleeping (a stall) end here rather than die with the loop.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # --- control API ----------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the defaults: no script, no faults, no delays, no records."""
        model_id, max_input, max_total = self._defaults
        with self._lock:
            self.model_id = model_id
            self.max_input_tokens = max_input
            self.max_total_tokens = max_total
            self.first_token_delay = 0.0
            self.token_delay = 0.0
            self._batch = 0  # hold_batch: streams to wait for, 0 when none are held
            self._batch_waiting = 0
            self._batch_start: asyncio.Event | None = None
            self.healthy = True
            self.has_info = True
            self.has_tokenizer = True
            self.openai_json_schema = False
            self._replies: deque[str] = deque()
            self._faults: deque[Fault] = deque()
            self._requests: list[Recorded] = []
            # (input tokens, generated tokens) as each stream's final details reported them.
            self.reported: list[tuple[int, int]] = []
            self._disconnects: list[Disconnect] = []

    def set_limits(self, *, max_input_tokens: int | None = None, max_total_tokens: int | None = None) -> None:
        """What ``/info`` reports and what generation requests are validated against."""
        with self._lock:
            if max_input_tokens is not None:
                self.max_input_tokens = max_input_tokens
            if max_total_tokens is not None:
                self.max_total_tokens = max_total_tokens

    def set_delays(self, *, first_token: float = 0.0, between_tokens: float = 0.0) -> None:
        with self._lock:
            self.first_token_delay, self.token_delay = first_token, between_tokens

    def hold_batch(self, count: int) -> None:
        """The next ``count`` streams send nothing until all ``count`` have started, then run
        together, as a batching server starts a batch: their jobs end at the same moment."""
        with self._lock:
            self._batch, self._batch_waiting, self._batch_start = count, 0, None

    async def _join_batch(self) -> None:
        with self._lock:
            if not self._batch:
                return
            if self._batch_start is None:
                self._batch_start = asyncio.Event()
            start = self._batch_start
            self._batch_waiting += 1
            if self._batch_waiting >= self._batch:
                self._batch, self._batch_start = 0, None
                start.set()
        await start.wait()

    def set_healthy(self, healthy: bool) -> None:
        with self._lock:
            self.healthy = healthy

    def set_features(self, *, info: bool = True, tokenizer: bool = True, openai_json_schema: bool = False) -> None:
        """``info=False``: ``/info`` answers 404; ``tokenizer=False``: ``/tokenize`` answers
        404 "No fast tokenizer available", as TGI does for such models;
        ``openai_json_schema=True``: the chat route also takes OpenAI's
        ``{"type": "json_schema", "json_schema": {...}}`` (as OpenAI and Gemini do; TGI doesn't)."""
        with self._lock:
            self.has_info, self.has_tokenizer = info, tokenizer
            self.openai_json_schema = openai_json_schema

    def script(self, *replies: str) -> None:
        """Texts for the next generation calls, one each, in order (used verbatim, even
        for a grammar request: that is how a test sends bad JSON)."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(self, kind: str, *, times: int = 1, after_tokens: int = 1, stall_seconds: float = 30.0,
                  keepalive_seconds: float = 15.0) -> None:
        """Make the next ``times`` generation calls fail with ``kind`` (one of ``FAULTS``)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults.extend(Fault(kind, after_tokens, stall_seconds, keepalive_seconds) for _ in range(times))

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def generation_requests(self) -> list[Recorded]:
        generation = {"/generate", "/generate_stream", "/", "/v1/chat/completions", "/v1/completions"}
        return [r for r in self.requests if r.path in generation]

    def prompts(self) -> list[str]:
        """The prompt of each generation call: ``inputs``, or the chat messages rendered."""
        out = []
        for r in self.generation_requests():
            body = r.body or {}
            if "inputs" in body or "prompt" in body:
                out.append(str(body.get("inputs", body.get("prompt"))))
            else:
                out.append(content.chat_prompt(body.get("messages", [])))
        return out

    @property
    def disconnects(self) -> list[Disconnect]:
        """Streams whose client went away mid-way (seen at the next token's write)."""
        with self._lock:
            return list(self._disconnects)

    def client_left(self, *, sent: int, total: int) -> None:
        with self._lock:
            self._disconnects.append(Disconnect(sent=sent, total=total))

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # --- helpers ---------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Any:
        body = await request.json() if request.can_read_body else None
        with self._lock:
            peer = request.transport.get_extra_info("peername") if request.transport is not None else None
            self._requests.append(Recorded(request.method, request.path, body, f"{peer[0]}:{peer[1]}" if peer else ""))
        return body

    def plan(
        self, prompt: str, user_text: str, schema: dict[str, Any] | None, params: dict[str, Any], *, prefix: str = ""
    ) -> Plan:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            reply = self._replies.popleft() if self._replies else None
        stop = list(params.get("stop") or [])
        return Plan(prompt, user_text, schema, params.get("max_new_tokens"), stop, fault, reply, prefix)

    def _validate(self, plan: Plan) -> str | None:
        """TGI's input validation messages (router/src/validation.rs)."""
        n = content.count_tokens(plan.prompt)
        if not plan.prompt:
            return "Input validation error: `inputs` cannot be empty"
        if n > self.max_input_tokens:
            return f"Input validation error: `inputs` must have less than {self.max_input_tokens} tokens. Given: {n}"
        max_new = plan.max_new_tokens or 0
        if n + max_new > self.max_total_tokens:
            return (
                f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}. "
                f"Given: {n} `inputs` tokens and {max_new} `max_new_tokens`"
            )
        return None

    def tokens(self, plan: Plan) -> tuple[list[str], str]:
        """The streamed pieces and the finish reason (TGI keeps a stop sequence in the text):
        ``length`` once ``max_new_tokens`` pieces (tokens) are out, as TGI reports it."""
        if plan.reply is not None:
            text = plan.reply
        elif plan.schema is not None:
            text = content.schema_reply(plan.schema, plan.user_text)
        else:
            text = content.default_reply(plan.user_text)
        if plan.prefix:
            # A deterministic model: given the start of its answer, it says the rest.
            text = content.continuation(text, plan.prefix)
        limit = plan.max_new_tokens or max(self.max_total_tokens - content.count_tokens(plan.prompt), 1)
        out: list[str] = []
        so_far = ""
        for piece in content.pieces(text):
            out.append(piece)
            so_far += piece
            if any(stop and stop in so_far[-len(stop) - len(piece) :] for stop in plan.stop):
                return out, "stop_sequence"
            if len(out) >= limit:
                return out, "length"
        return out, "eos_token"

    async def events(self, plan: Plan, pieces: list[str], keepalive: KeepAlive | None = None) -> Any:
        """Yields (index, piece) for each token, honouring the delays and the stream
        faults; raises ``Drop`` to cut the connection. A stream fault fires after
        ``after_tokens`` tokens, or before the final event if the reply is shorter.
        ``keepalive`` writes one SSE comment (streams only)."""
        stream_faults = ("stall", "stall_keepalive", "close_mid_stream")
        fault = plan.fault if plan.fault is not None and plan.fault.kind in stream_faults else None
        await self._join_batch()
        await asyncio.sleep(self.first_token_delay)
        for index, piece in enumerate(pieces, start=1):
            if fault is not None and index == fault.after_tokens + 1:
                await self._fault(fault, keepalive)
                fault = None
            if index > 1:
                await asyncio.sleep(self.token_delay)
            yield index, piece
        if fault is not None:
            await self._fault(fault, keepalive)

    async def _fault(self, fault: Fault, keepalive: KeepAlive | None) -> None:
        if fault.kind == "close_mid_stream":
            raise Drop
        until = time.monotonic() + fault.stall_seconds
        while fault.kind == "stall_keepalive" and keepalive is not None and time.monotonic() < until:
            await asyncio.sleep(min(fault.keepalive_seconds, max(until - time.monotonic(), 0)))
            await keepalive()
        await asyncio.sleep(max(until - time.monotonic(), 0))

    # --- routes ------------------------------------------------------------------------------

    async def _info(self, request: web.Request) -> web.Response:
        await self._record(request)
        if not self.has_info:
            return web.json_response({"error": "Not Found", "error_type": "not_found"}, status=404)
        return web.json_response(
            {
                "model_id": self.model_id,
                "model_sha": None,
                "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": 128,
                "max_best_of": 2,
                "max_stop_sequences": 4,
                "max_input_tokens": self.max_input_tokens,
                "max_total_tokens": self.max_total_tokens,
                "validation_workers": 2,
                "max_client_batch_size": 4,
                "router": "text-generation-router",
                "version": "3.3.6-fake",
                "sha": None,
                "docker_label": None,
            }
        )

    async def _health(self, request: web.Request) -> web.Response:
        await self._record(request)
        if self.healthy:
            return web.Response(status=200)
        return web.json_response({"error": "unhealthy", "error_type": "healthcheck"}, status=503)

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if not self.has_tokenizer:
            return web.json_response({"error": "No fast tokenizer available", "error_type": "tokenizer"}, status=404)
        return web.json_response(content.token_spans(str(body.get("inputs", ""))))

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        model = {"id": self.model_id, "object": "model", "created": 0, "owned_by": self.model_id}
        return web.json_response({"object": "list", "data": [model]})

    async def _compat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if body.get("stream"):
            return await native_generation(self, request, body, stream=True)
        return await native_generation(self, request, body, stream=False, as_list=True)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        return await native_generation(self, request, await self._record(request), stream=False)

    async def _generate_stream(self, request: web.Request) -> web.StreamResponse:
        return await native_generation(self, request, await self._record(request), stream=True)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await chat_completion(self, request, await self._record(request))

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await text_completion(self, request, await self._record(request))

    async def early_failure(self, plan: Plan) -> web.Response | None:
        """Faults that answer before any stream starts: HTTP errors and validation."""
        fault = plan.fault
        if fault is not None and fault.kind in _STATUS:
            status = _STATUS[fault.kind]
            kind = {429: "overloaded", 422: "validation", 424: "generation", 503: "unavailable"}[status]
            return error_response(kind, _ERRORS[kind], status)
        return None

    def in_stream_error(self, plan: Plan) -> tuple[str, str] | None:
        if plan.fault is not None and plan.fault.kind in _IN_STREAM:
            kind = _IN_STREAM[plan.fault.kind]
            return kind, _ERRORS[kind]
        invalid = self._validate(plan)
        return ("validation", invalid) if invalid else None
