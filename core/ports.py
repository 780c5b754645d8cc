"""Ports: what the core needs from the outside world, as Protocols.

Adapters (bots/*), the worker and the Redis stores implement them; the composition root
(tertulia/bootstrap.py) wires them. Nothing here imports an SDK, Celery or an HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from core.jobs import Job
from core.messages import Attachment
from core.panel import Panel
from core.settings import Settings

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, kw_only=True)
class ChatTurn:
    role: Role
    content: str


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    max_input_tokens: int  # the prompt's limit, as the server states it (TGI /info) or the registry


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """What to generate. ``messages`` always carries the conversation; a client for a raw
    completion API renders it with the model's prompt format, a chat API sends it as is."""

    messages: tuple[ChatTurn, ...]
    max_new_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None  # constrain the output (TGI grammar / response_format)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Usage:
    """What the server reported about one generation (filled in as the stream ends)."""

    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    finish_reason: str | None = None


class TokenStream(Iterator[str]):
    """The text deltas of one generation. Once exhausted, ``usage`` holds the server's
    counts; ``close()`` ends the generation early (the HTTP connection is released)."""

    def __init__(self, deltas: Iterator[str], usage: Usage | None = None) -> None:
        self._deltas = deltas
        self.usage = usage if usage is not None else Usage()

    def __iter__(self) -> TokenStream:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()


class ModelClient(Protocol):
    """One model endpoint. ``stream`` yields text deltas as they arrive and raises the
    ``core.errors.ModelError`` subclasses, which say whether a retry can help."""

    name: str

    def info(self) -> ModelInfo: ...

    def count_tokens(self, text: str) -> int:
        """The server's own count where it has a tokenizer endpoint, else an estimate."""
        ...

    def render(self, messages: tuple[ChatTurn, ...]) -> str:
        """The prompt text as this model would see it (for counting and for raw APIs)."""
        ...

    def stream(self, request: GenerationRequest) -> TokenStream: ...

    def healthy(self) -> bool: ...


class ModelDirectory(Protocol):
    """The model registry as the job runner sees it."""

    def names(self) -> list[str]: ...

    def default_for(self, kind: str) -> str: ...

    def client(self, name: str) -> ModelClient: ...

    def describe(self, name: str) -> str: ...

    def is_hosted(self, name: str) -> bool:
        """A hosted API: messages sent to it leave the deployment."""
        ...

    def reachability(self) -> dict[str, bool]:
        """Which models answer now, checked together."""
        ...


class Responder(Protocol):
    """Delivers one job's answer to one destination.

    ``post`` creates a message and returns its reference; ``update`` replaces an
    intermediate text; ``finish`` gives a message its final text; ``delete`` removes a
    message the final answer no longer needs (a piece of a longer failed attempt), or, where
    the platform cannot delete it, edits it to ``core.delivery.STALE_MARKER``; a message
    already gone is not an error. ``close`` is called once when the job is over, whatever
    happened. ``controls``: the buttons the message shows from now on (None: none; see
    core/controls.py), drawn in the platform's terms or ignored where it has none (the
    console). Methods raise ``core.errors.RetryAfter``
    on a rate limit and ``BadRequest``/``Forbidden`` when retrying cannot help.
    """

    max_chars: int  # the platform's message length limit
    update_interval: float  # seconds between edits of one destination (the platform budget)

    @property
    def destination(self) -> str:
        """Key of the rate budget within the platform (a channel, a chat, a workspace),
        shared by every worker; the runner adds the platform's name in front."""
        ...

    def start(self) -> None:
        """Show that work began (typing, a 'thinking' status); may do nothing."""
        ...

    def post(self, text: str, *, controls: Panel | None = None) -> str: ...

    def update(self, ref: str, text: str, *, controls: Panel | None = None) -> None: ...

    def finish(self, ref: str, text: str, *, controls: Panel | None = None) -> None: ...

    def delete(self, ref: str) -> None: ...

    def close(self) -> None: ...


class PlatformDelivery(Protocol):
    """Everything the worker needs from one chat platform to finish a job there."""

    def responder(self, job: Job) -> Responder: ...

    def fetch_file(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        """Download an attachment that arrived as a platform URL; raise
        ``InputError("file_too_large", ...)`` past ``max_bytes``."""
        ...

    def read_source(self, job: Job) -> str:
        """The text a summary of ``job.args["source"]`` reads: "thread", "channel" or
        "reply" (a replied-to message), as plain lines ``name: text``."""
        ...


class RateBudget(Protocol):
    """A per-destination budget shared by every worker (held in Redis)."""

    def try_acquire(self, key: str, interval: float) -> float:
        """0.0 and the slot is taken; otherwise the seconds until the next free slot."""
        ...

    def penalize(self, key: str, seconds: float) -> None:
        """The platform said to wait (429 Retry-After): nobody sends there until then."""
        ...


class ContextStore(Protocol):
    def history(self, scope: str, *, before: str | None = None) -> list[ChatTurn]:
        """The remembered turns; ``before``: only those before that job's exchange (all of
        them when it is not remembered)."""
        ...

    def record_exchange(
        self, scope: str, *, job_id: str, user: str, assistant: str, replaces: str | None = None
    ) -> bool:
        """Store one user turn and one assistant turn; False if this job already did.
        ``replaces``: a job whose exchange these take the place of (appended when it is not
        remembered)."""
        ...

    def clear(self, scope: str) -> None: ...


class ModelChoiceStore(Protocol):
    def get(self, scope: str) -> str | None: ...

    def set(self, scope: str, name: str) -> None: ...

    def clear(self, scope: str) -> None: ...


class JobStore(Protocol):
    def save(self, job: Job) -> None: ...

    def admit(self, job: Job) -> None:
        """Puts a saved job in line (a /chat job behind its conversation's earlier ones);
        raises ``InputError`` when its conversation or its user has too many waiting."""
        ...

    def load(self, job_id: str) -> Job | None: ...

    def save_refs(self, job_id: str, refs: list[str]) -> None: ...

    def load_refs(self, job_id: str) -> list[str]: ...

    def save_answer(self, job_id: str, text: str) -> None:
        """The finished answer, so that a retried delivery never asks the model again."""
        ...

    def load_answer(self, job_id: str) -> str | None: ...


class JobQueue(Protocol):
    def enqueue(self, job_id: str) -> None: ...


class KeyValue(Protocol):
    """A platform's small shared memory (a Slack job's thread, a Discord reply chain): one
    namespace whose values expire. The composition root backs it with Redis."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


class EventLog(Protocol):
    """Append-only logs, one per channel, that another process follows as they grow (the
    console's answers: the worker appends, the terminal reads)."""

    def append(self, channel: str, event: Mapping[str, str]) -> None: ...

    def append_many(self, events: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """``(channel, event)`` pairs appended in order, in one round trip."""
        ...

    def read(self, channel: str, *, after: str, block_seconds: float) -> list[tuple[str, dict[str, str]]]:
        """Events after the id ``after`` ("0-0": from the start), waiting up to
        ``block_seconds`` for the first; each with its id."""
        ...


@dataclass(frozen=True, kw_only=True)
class PlatformResources:
    """What the composition root hands each platform's delivery factory."""

    settings: Settings
    memory: Callable[[str, int], KeyValue]  # (namespace, ttl seconds) -> that namespace's store
    events: EventLog
    load_refs: Callable[[str], list[str]]  # a job's message references (JobStore.load_refs)


Verdict = Literal["run", "done", "busy", "wait"]


class JobLeases(Protocol):
    """Who runs a job, across worker processes (docs/decisions.md, "Job leases").

    ``claim`` answers "run" (this process now holds the job's lease and keeps it alive),
    "done" (it finished already: a redelivered message), "busy" (a live worker holds it)
    or "wait" (an earlier /chat of its conversation runs first; it is sent again when
    that one ends). A lease that lapses (its worker died) is re-enqueued by any worker."""

    def claim(self, job_id: str) -> Verdict: ...

    def finished(self, job_id: str) -> None:
        """The job is over (answered, refused or given up): never run it again."""
        ...

    def retry_later(self, job_id: str, seconds: float) -> None:
        """Let go of the job until a retry, due in ``seconds``, claims it again."""
        ...


class Deduplicator(Protocol):
    def first_time(self, namespace: str, key: str, *, ttl_seconds: int | None = None) -> bool:
        """True the first time (namespace, key) is seen within the TTL (the store's own
        unless ``ttl_seconds`` says otherwise)."""
        ...


class JobLogging(Protocol):
    """Sets the fields every log line carries while a job runs (job_id, platform, scope,
    command, model), once, around the job (tertulia/logs.job_logging)."""

    def __call__(
        self, *, job_id: str, platform: str | None = None, scope: str | None = None, command: str | None = None,
        model: str | None = None,
    ) -> AbstractContextManager[object]: ...


class JobObserver(Protocol):
    """Hooks the runner calls so that operations can count what happens (metrics, logs).
    Every method must be cheap and must never raise."""

    def job_started(self, *, kind: str, platform: str) -> None: ...

    def first_token(self, *, kind: str, model: str, seconds: float) -> None: ...

    def tokens(self, *, kind: str, model: str, prompt_tokens: int, generated_tokens: int) -> None: ...

    def job_finished(self, *, kind: str, platform: str, outcome: str) -> None:
        """outcome: "ok", "retry", "model_busy", "rejected", "input_error", "error"."""
        ...

    def model_error(self, *, model: str, error_type: str) -> None: ...

    def rate_limited(self, *, platform: str, seconds: float) -> None: ...

    def delivered(self, *, platform: str, seconds: float) -> None:
        """Time from the job's creation to its final text landing."""
        ...


class NullObserver:
    def job_started(self, *, kind: str, platform: str) -> None:
        pass

    def first_token(self, *, kind: str, model: str, seconds: float) -> None:
        pass

    def tokens(self, *, kind: str, model: str, prompt_tokens: int, generated_tokens: int) -> None:
        pass

    def job_finished(self, *, kind: str, platform: str, outcome: str) -> None:
        pass

    def model_error(self, *, model: str, error_type: str) -> None:
        pass

    def rate_limited(self, *, platform: str, seconds: float) -> None:
        pass

    def delivered(self, *, platform: str, seconds: float) -> None:
        pass
