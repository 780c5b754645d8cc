"""Ports of the answer controls (Stop, Regenerate, feedback): a job's stop flag, the facts a
finished answer leaves behind, and the votes. Protocols and plain values only;
tertulia/control_store.py implements them in Redis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

Vote = Literal["up", "down"]


@dataclass(frozen=True, kw_only=True)
class AnswerFacts:
    """What the worker says about an answer once it has landed."""

    model: str
    command: str
    cut: bool = False  # the model stopped at max_new_tokens (a Continue control is offered)


@dataclass(frozen=True, kw_only=True)
class VoteRecord:
    """One vote on one answer. ``user`` is ``core.policy.user_of``; ``place`` is
    ``core.policy.place_of`` of the voter (the unit whose admins see the totals)."""

    job_id: str
    user: str
    vote: Vote
    model: str
    command: str
    place: str
    at: float  # epoch seconds: the month it counts in


@dataclass(frozen=True, kw_only=True)
class FeedbackTotals:
    up: int = 0
    down: int = 0


class ControlStore(Protocol):
    def request_stop(self, job_id: str) -> None:
        """Raise the job's stop flag (it expires with the job)."""
        ...

    def stop_requested(self, job_id: str) -> bool: ...

    def finished(self, job_id: str) -> bool:
        """The job is over (answered, refused or given up): nothing left to stop."""
        ...

    def claim_regenerate(self, job_id: str) -> bool:
        """True once per job: the first Regenerate of an answer wins (a double click queues one)."""
        ...

    def release_regenerate(self, job_id: str) -> None:
        """The Regenerate was refused (a limit): the answer may be regenerated later."""
        ...

    def remember_latest(self, *, scope: str, user: str, job_id: str) -> None:
        """The newest job a user started in a conversation, for ``/stop``."""
        ...

    def latest(self, *, scope: str, user: str) -> str | None: ...

    def answered(self, job_id: str, facts: AnswerFacts) -> None: ...

    def facts(self, job_id: str) -> AnswerFacts | None: ...

    def vote(self, record: VoteRecord) -> Vote | None:
        """Records ``record`` (one vote per user per answer: a second one replaces the
        first) and returns the vote it replaced, if any. Atomic."""
        ...

    def feedback(self, *, place: str, at: float) -> dict[str, FeedbackTotals]:
        """The month's votes in ``place`` by model."""
        ...


class FeedbackObserver(Protocol):
    """Counts votes for operations (Prometheus). Must be cheap and never raise."""

    def feedback(self, *, model: str, command: str, vote: str, replaced: str | None) -> None: ...


class StopWatch(Protocol):
    """The worker's view of the stop flags of the jobs it is streaming: one process-wide
    look at Redis per interval for all of them, not one read per job per interval."""

    def watch(self, job_id: str) -> Callable[[], bool]:
        """A cheap local check, True once the job's stop flag was seen raised."""
        ...

    def forget(self, job_id: str) -> None:
        """The job's attempt is over: no more looks for it."""
        ...
