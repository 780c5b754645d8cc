"""The fields every log line carries while a job runs or an adapter handles one event, set
once around the work. Standard library only, so the core and the adapters set them and the
composition root's formatter (tertulia/logs.py) writes them."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

CONTEXT_FIELDS = ("job_id", "platform", "scope", "command", "model", "event_id")
# Per thread and per task: concurrent jobs on Celery's threads never mix their fields.
current_fields: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "tertulia_log_fields", default=None
)


class LogFields:
    """The fields of the enclosing ``job_logging``/``event_logging``; ``set`` adds the ones
    known only later (the model, once the job has chosen it)."""

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields

    def set(self, **fields: str | None) -> None:
        unknown = set(fields) - set(CONTEXT_FIELDS)
        if unknown:
            raise ValueError(f"not a log context field: {sorted(unknown)}")
        self._fields.update({k: v for k, v in fields.items() if v})


@contextmanager
def _context(fields: dict[str, str | None]) -> Iterator[LogFields]:
    inherited = dict(current_fields.get() or {})
    current = {**inherited, **{k: v for k, v in fields.items() if v}}
    token = current_fields.set(current)
    try:
        yield LogFields(current)
    finally:
        current_fields.reset(token)


@contextmanager
def job_logging(
    *, job_id: str, platform: str | None = None, scope: str | None = None, command: str | None = None,
    model: str | None = None,
) -> Iterator[LogFields]:
    """Every record logged inside (in this thread or task) carries these fields, the scope
    hashed. Context variables are per thread, so concurrent jobs on Celery's threads never
    mix them; a thread the job starts itself starts without them."""
    with _context(
        {"job_id": job_id, "platform": platform, "scope": scope, "command": command, "model": model}
    ) as fields:
        yield fields


@contextmanager
def event_logging(*, platform: str, event_id: str) -> Iterator[LogFields]:
    """An adapter's lines while it handles one inbound event (an update, an interaction, an
    event callback): ``platform`` and the platform's ``event_id``."""
    with _context({"platform": platform, "event_id": event_id}) as fields:
        yield fields
