"""What the TGI and OpenAI-compatible clients share: the HTTP session, timeouts, the token
estimate, stop-sequence trimming and the stream wrapper that carries usage."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import httpx2
from huggingface_hub import get_session, set_client_factory

from core.models import ModelSpec
from core.ports import GenerationRequest
from worker.llm.watch import attach_response

# Characters per token for the fallback estimate. English BPE tokenizers (Llama, GPT,
# SmolLM2) average about 4 characters per token; 3.5 errs on the high side so that a
# context trimmed on the estimate still fits the server's real count.
CHARS_PER_TOKEN = 3.5

_session_lock = threading.Lock()
_session_ready = False


def estimate_tokens(text: str) -> int:
    """Documented fallback when the server has no tokenizer endpoint: ceil(chars / 3.5)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def ensure_session(*, max_keepalive: int = 256) -> httpx2.Client:
    """huggingface_hub's shared httpx client, with a pool sized for a worker that holds
    hundreds of streams at once (httpx's default caps a pool at 100 connections; a
    256-thread worker would then wait for a free connection). Done once per process,
    through huggingface_hub's documented ``set_client_factory`` hook."""
    global _session_ready
    with _session_lock:
        if not _session_ready:

            def factory() -> httpx2.Client:
                return httpx2.Client(
                    follow_redirects=True,
                    timeout=None,  # every call passes its own
                    limits=httpx2.Limits(max_connections=None, max_keepalive_connections=max_keepalive),
                    # A generation's socket goes to its token watch (worker/llm/watch.py).
                    event_hooks={"response": [attach_response]},
                )

            set_client_factory(factory)
            _session_ready = True
    return get_session()


def first_token_timeout(*, request_timeout: float, token_timeout: float) -> float:
    """The wait for a generation's first token: a server queues and prefills before it,
    which a busy one may take longer than a gap between two tokens."""
    return max(request_timeout, token_timeout)


def stream_timeout(*, request_timeout: float, token_timeout: float) -> httpx2.Timeout:
    """httpx applies ``read`` to each socket read, and any byte (an SSE keep-alive comment
    too) resets it; the time between *tokens* is bounded by the token watch
    (worker/llm/watch.py). ``read`` is the backstop: the wait for the response headers,
    and for a stream whose socket the watch could not see."""
    read = first_token_timeout(request_timeout=request_timeout, token_timeout=token_timeout)
    return httpx2.Timeout(connect=request_timeout, read=read, write=request_timeout, pool=request_timeout)


def auth_headers(api_key: str | None) -> dict[str, str | None]:
    """Only the key the registry names is ever sent. ``None`` for ``authorization`` makes
    huggingface_hub drop the header, so a local HF token is not leaked to our endpoints."""
    return {"authorization": f"Bearer {api_key}" if api_key else None}


class StopTrimmer:
    """Holds back text that may be the start of a stop sequence, and cuts the answer at
    the first complete one. TGI's native API stops *after* a stop sequence and streams it
    like any text (``\\nUser:`` for Falcon would otherwise show up in the chat)."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._pending = ""
        self.stopped = False
        # stop -> {character: the sizes of its proper prefixes ending in it, longest first}:
        # a held suffix must end in the text's last character, which few prefixes do, so
        # most tokens (run once each, hundreds of streams at once) check none.
        self._ends: dict[str, dict[str, tuple[int, ...]]] = {}
        for stop in self._stops:
            ends: dict[str, list[int]] = {}
            for size in range(len(stop) - 1, 0, -1):
                ends.setdefault(stop[size - 1], []).append(size)
            self._ends[stop] = {char: tuple(sizes) for char, sizes in ends.items()}

    def feed(self, delta: str) -> str:
        """The part of the text so far that is safe to show."""
        if self.stopped:
            return ""
        self._pending += delta
        cut = -1  # the earliest stop in the pending text (a loop: this runs for every token)
        for stop in self._stops:
            found = self._pending.find(stop)
            if found >= 0 and (cut < 0 or found < cut):
                cut = found
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        hold = self._held_suffix()
        out = self._pending[: len(self._pending) - hold]
        self._pending = self._pending[len(self._pending) - hold :]
        return out

    def flush(self) -> str:
        out, self._pending = ("" if self.stopped else self._pending), ""
        return out

    def _held_suffix(self) -> int:
        """The longest suffix of the pending text that is a proper prefix of a stop."""
        if not self._pending:
            return 0
        best, last, pending = 0, self._pending[-1], self._pending
        for stop in self._stops:
            for size in self._ends[stop].get(last, ()):
                if size <= best:
                    break
                if size <= len(pending) and pending.endswith(stop[:size]):
                    best = size
                    break
        return best


class CountCache:
    """Token counts of recent texts. Trimming a conversation counts the same prompt
    prefixes again and again; each count is an HTTP round trip."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> int | None:
        with self._lock:
            value = self._items.get(text)
            if value is not None:
                self._items.move_to_end(text)
            return value

    def put(self, text: str, value: int) -> None:
        with self._lock:
            self._items[text] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def pick(mapping: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k in keys and v is not None}


def sampling(request: GenerationRequest, spec: ModelSpec) -> tuple[float | None, float | None]:
    """(temperature, top_p): the request's own, else the registry's defaults for the model."""
    temperature = request.temperature if request.temperature is not None else spec.temperature
    top_p = request.top_p if request.top_p is not None else spec.top_p
    return temperature, top_p


def answers_ok(session: httpx2.Client, url: str, *, headers: dict[str, str], timeout: float) -> bool:
    """A health probe: True only for a 200 within ``timeout``; any failure is "not reachable"."""
    try:
        return session.get(url, headers=headers, timeout=timeout).status_code == 200
    except Exception:
        return False
