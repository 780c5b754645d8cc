"""Ports of the policy (issue 13): admitting a request under its limits, recording usage,
keeping personas. Protocols and plain values only; tertulia/policy_store.py implements them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class Ticket:
    """One request asking to be admitted, with the limits that apply to it (None: no limit)."""

    user: str  # core.policy.user_of
    place: str  # core.policy.place_of
    job_id: str
    per_minute: int | None = None
    user_tokens_per_day: int | None = None
    place_tokens_per_day: int | None = None
    concurrent: int | None = None


@dataclass(frozen=True, kw_only=True)
class Admitted:
    """``limit`` None: admitted (and counted). Otherwise the limit that refused it
    ("rate", "user_tokens", "place_tokens", "concurrent") and the seconds until it frees
    (None: when one of the user's jobs ends)."""

    limit: str | None = None
    retry_after: float | None = None


class Admission(Protocol):
    """The shared, atomic counters behind the limits: every adapter process checks and
    counts through one store, so a limit holds across processes."""

    def admit(self, ticket: Ticket) -> Admitted: ...

    def release(self, user: str, job_id: str) -> None:
        """The job ended: its slot among the user's concurrent jobs frees."""
        ...


@dataclass(frozen=True, kw_only=True)
class UsageEntry:
    user: str
    place: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    wall_seconds: float
    at: float  # epoch seconds


@dataclass(frozen=True, kw_only=True)
class UsageTotals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, kw_only=True)
class UsageReport:
    user_today: UsageTotals
    user_month: UsageTotals
    place_today: UsageTotals
    place_month: UsageTotals
    top_users: tuple[tuple[str, int], ...]  # this month in the place: (user, tokens), most first


class UsageLedger(Protocol):
    def record(self, entry: UsageEntry) -> None: ...

    def report(self, *, user: str, place: str, at: float) -> UsageReport: ...


class PersonaStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, text: str) -> None: ...

    def clear(self, key: str) -> None: ...
