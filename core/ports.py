"""Ports: what the core needs from the outside world, as Protocols.

Adapters (bots/*), the worker and the Redis stores implement them; the composition root
(tertulia/bootstrap.py) wires them. Nothing here imports an SDK, Celery or an HTTP client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from core.jobs import Job
from core.messages import Attachment

# Re-exported: every port is importable from here.
from core.model_ports import ChatTurn as ChatTurn
from core.model_ports import GenerationRequest as GenerationRequest
from core.model_ports import Image as Image
from core.model_ports import ModelClient as ModelClient
from core.model_ports import ModelDirectory as ModelDirectory
from core.model_ports import ModelInfo as ModelInfo
from core.model_ports import Role as Role
from core.model_ports import TokenStream as TokenStream
from core.model_ports import Usage as Usage
from core.panel import Panel
from core.settings import Settings

if TYPE_CHECKING:
    from core.cut import CutAnswer  # core.cut uses ChatTurn from here


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


class PostsWithRefs(Protocol):
    """A responder whose messages live in the store that keeps the job's refs (the console's
    event log, in Redis): a new piece and the refs that name it are written in one transaction,
    so no crash between them leaves a piece that a retry does not know, and it costs one round
    trip, not two. ``StreamingReply`` posts through it where a responder offers it."""

    def post_with_refs(self, text: str, *, refs: Sequence[str], controls: Panel | None = None) -> str:
        """Posts ``text`` as the piece after ``refs`` and stores ``refs`` plus its ref as the
        job's refs; returns its ref."""
        ...


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


@dataclass(frozen=True, kw_only=True)
class ThreadPost:
    """One earlier message of a platform's thread or reply chain, as the model reads it."""

    author: str  # the display name people see
    text: str
    by_bot: bool = False  # this bot's own answer: an assistant turn


@dataclass(frozen=True, kw_only=True)
class Transcript:
    """The conversation around a job as the platform shows it: every participant, not only
    the bot's exchanges. ``posts`` are those before the job's message, oldest first."""

    posts: tuple[ThreadPost, ...]
    author: str  # who wrote the job's message


@runtime_checkable
class ConversationReader(Protocol):
    """A ``PlatformDelivery`` that can read a job's conversation back (a Slack thread, a
    Discord reply chain); platforms without one use the scope's memory alone."""

    def conversation(self, job: Job, *, max_file_bytes: int) -> Transcript | None:
        """None: this job has no such conversation (a DM, a slash command), use memory."""
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

    def extend_answer(self, scope: str, *, answer: str, whole: str) -> bool:
        """The last assistant turn becomes ``whole`` if it is still ``answer`` (a cut answer
        continued: the history then holds the whole answer once); False otherwise."""
        ...


class CutStore(Protocol):
    """The last answer cut at its token limit, per conversation scope, for /continue
    (core/cut.py); it expires with the job's TTL."""

    def remember(self, scope: str, cut: CutAnswer) -> None: ...

    def last(self, scope: str) -> CutAnswer | None: ...

    def forget(self, scope: str, *, job_id: str) -> None:
        """Forget the scope's cut answer if it is still the one ``job_id`` left."""
        ...


class ModelChoiceStore(Protocol):
    def get(self, scope: str) -> str | None: ...

    def set(self, scope: str, name: str) -> None: ...

    def clear(self, scope: str) -> None: ...


class JobStore(Protocol):
    def save(self, job: Job, *, admit: bool = False, newest: bool = False) -> None:
        """With ``admit``, also puts the job in line (``admit``) in the same transaction; the
        job is saved even when that raises. With ``newest`` too, an admitted job becomes its
        user's newest in its scope (``ControlStore.latest``, what /stop stops) in that same
        transaction; a refused one does not."""
        ...

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

    def append_many(
        self, events: Sequence[tuple[str, Mapping[str, str]]], *, refs: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """``(channel, event)`` pairs appended in order, in one round trip; with ``refs`` (job id
        -> its message references), those jobs' refs are stored in the same transaction
        (what ``JobStore.load_refs`` reads)."""
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
