"""From what huggingface_hub, httpx and urllib3 raise to the core's error tree, which tells the
task whether a retry can help.

| what happened                                            | core error        |
|----------------------------------------------------------|-------------------|
| HTTP 429; TGI ``overloaded`` event inside a 200 stream    | ModelOverloaded   |
| HTTP 502/503/504/5xx, connection refused, DNS, connect timeout | ModelUnavailable |
| read timeout between two events, stream cut or ended early | ModelStalled     |
| HTTP 400/401/403/404/413/422/424, validation/generation events | ModelRejected |
"""

from __future__ import annotations

import json
import socket

import httpx2
import urllib3.exceptions as urllib3_errors
from huggingface_hub.errors import (
    GenerationError,
    HfHubHTTPError,
    IncompleteGenerationError,
    InferenceTimeoutError,
    OverloadedError,
    TextGenerationError,
    UnknownError,
    ValidationError,
)

from core.errors import ModelError, ModelOverloaded, ModelRejected, ModelStalled, ModelUnavailable


def from_status(status: int, message: str) -> ModelError:
    if status == 429:
        return ModelOverloaded(message)
    if status == 408:
        return ModelStalled(message)
    if status >= 500 and "validation error" in message.lower():
        # llama-cpp-python answers a request it can't parse with 500: retrying can't help.
        return ModelRejected(message)
    if status >= 500:
        return ModelUnavailable(message)
    return ModelRejected(message)


def from_event_message(message: str) -> ModelError:
    """An error event whose type huggingface_hub does not know: TGI's OpenAI route sends
    ``{"error": {"message": "Model is overloaded", "http_status_code": 422}}`` for every
    error kind, and ``incomplete_generation_stream`` has no class of its own; only the
    message tells them apart."""
    lowered = message.lower()
    if "overloaded" in lowered or "too many requests" in lowered or "rate limit" in lowered:
        return ModelOverloaded(message)
    if "incomplete generation" in lowered:
        return ModelStalled(message)
    return ModelRejected(message)


def server_reason(response: object) -> str | None:
    """What the server said went wrong, from its JSON error body: TGI's ``{"error": str,
    "error_type": str}``, OpenAI's ``{"error": {"message": str}}``, or a ``message``/``detail``."""
    try:
        body = response.json()  # type: ignore[attr-defined]
    except Exception:  # no body, not JSON, or a stream never read
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    found = error or body.get("message") or body.get("detail")
    return " ".join(str(found).split())[:500] if found else None


def _http_message(where: str, status: int, response: object, fallback: object) -> str:
    """The server's reason on the first line (what a chat shows), where and status after it."""
    reason = server_reason(response)
    if reason:
        return f"{reason}\n{where}: HTTP {status}"
    return f"{where}: HTTP {status}: {fallback}"


def _from_transport(exc: httpx2.TransportError, where: str) -> ModelError:
    text = f"{where}: {type(exc).__name__}: {exc}"
    if isinstance(exc, httpx2.ReadTimeout):
        return ModelStalled(text)
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout | httpx2.WriteTimeout):
        return ModelUnavailable(text)
    if isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError):
        # The server closed the connection in the middle of the answer.
        return ModelStalled(text)
    return ModelUnavailable(text)


def _from_urllib3(exc: urllib3_errors.HTTPError, where: str) -> ModelError:
    """TGI's token stream (worker/llm/streams.py): no connection is "unavailable", a
    connection that went quiet or broke in the middle of the answer is "stalled"."""
    text = f"{where}: {type(exc).__name__}: {exc}"
    if isinstance(exc, urllib3_errors.ReadTimeoutError | urllib3_errors.ProtocolError):
        return ModelStalled(text)
    return ModelUnavailable(text)  # refused, DNS, connect timeout, TLS, proxy


def to_model_error(exc: BaseException, *, where: str = "model server") -> ModelError | None:
    """The core error for ``exc``, or None when it is not a model-server failure (a bug
    of ours must surface as itself, not be retried)."""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, TextGenerationError) and isinstance(exc.__cause__, HfHubHTTPError):
        # An HTTP error status whose body TGI typed: the status decides.
        return to_model_error(exc.__cause__, where=where)
    if isinstance(exc, TextGenerationError):
        message = f"{where}: {exc}"
        if isinstance(exc, OverloadedError):
            return ModelOverloaded(message)
        if isinstance(exc, IncompleteGenerationError):
            return ModelStalled(message)
        if isinstance(exc, ValidationError | GenerationError):
            return ModelRejected(message)
        if isinstance(exc, UnknownError):
            return from_event_message(message)
    if isinstance(exc, InferenceTimeoutError):
        cause = exc.__cause__
        if isinstance(cause, httpx2.TransportError):
            return _from_transport(cause, where)
        return ModelUnavailable(f"{where}: {exc}")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        return from_status(status, _http_message(where, status, exc.response, exc))
    if isinstance(exc, httpx2.HTTPStatusError):
        status = exc.response.status_code
        return from_status(status, _http_message(where, status, exc.response, exc.response.reason_phrase))
    if isinstance(exc, httpx2.TransportError):
        return _from_transport(exc, where)
    if isinstance(exc, urllib3_errors.HTTPError):
        return _from_urllib3(exc, where)
    if isinstance(exc, json.JSONDecodeError):
        # The server sent an event that is not JSON: the same request gets the same.
        return ModelRejected(f"{where}: malformed event: {exc}")
    if isinstance(exc, socket.gaierror | ConnectionError | TimeoutError):
        return ModelUnavailable(f"{where}: {type(exc).__name__}: {exc}")
    return None


def http_error(response: object, *, where: str) -> ModelError:
    """A generation request answered with an error status (its body already read): the
    status decides, the server's reason comes first, as for huggingface_hub's errors."""
    status = int(response.status_code)  # type: ignore[attr-defined]
    return from_status(status, _http_message(where, status, response, getattr(response, "reason_phrase", "")))


# TGI's in-stream error events (``{"error": str, "error_type": str}``), as huggingface_hub
# types them (OverloadedError, IncompleteGenerationError, ValidationError, GenerationError).
_EVENT_ERRORS: dict[str, type[ModelError]] = {
    "overloaded": ModelOverloaded,
    "incomplete_generation": ModelStalled,
    "validation": ModelRejected,
    "generation": ModelRejected,
}


def event_error(event: dict[str, object], *, where: str) -> ModelError:
    """An error event inside a 200 stream; an unknown type is judged by its message."""
    error = event.get("error")
    if isinstance(error, dict):  # the OpenAI route's shape
        error = error.get("message")
    message = f"{where}: {error}"
    kind = _EVENT_ERRORS.get(str(event.get("error_type") or ""))
    return kind(message) if kind is not None else from_event_message(message)


def stall_message(where: str, seconds: float) -> str:
    return f"{where}: no token for {seconds:g} s (the connection was still open)"


def stream_fault(exc: BaseException, *, where: str, stalled: bool, token_timeout: float) -> ModelError | None:
    """What a fault in the middle of a stream means: a stall when the token watch cut the
    connection (whatever error the cut surfaced as), else the transport's or server's own."""
    if stalled:
        return ModelStalled(stall_message(where, token_timeout))
    return to_model_error(exc, where=where)
