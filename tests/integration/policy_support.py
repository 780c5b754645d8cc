"""A stack under a policy file of the test's own: Services built on it (own key prefix
where no worker is needed, so the queue it enqueues to is the test's alone), and what
reached the queue, read from Redis."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from bots.console.app import ConsoleSession
from tertulia.metrics import celery_queue_key
from tests.integration.console_support import Transcript
from tests.support.processes import environ

PRIORITIES = (0, 3, 6, 9)


def policy_services(settings: Any, stack_env: dict[str, str], path: Path, text: str, *, own_queue: bool) -> Any:
    """Services reading the policy in ``text``. ``own_queue``: under a key prefix and a
    queue of their own, which no worker consumes (what is enqueued stays to be counted)."""
    from tertulia.bootstrap import build_services

    path.write_text(text)
    update: dict[str, Any] = {"policy_file": path}
    if own_queue:
        prefix = f"{settings.key_prefix}:pol{uuid.uuid4().hex[:6]}"  # cleaned up with the session's keys
        update |= {"key_prefix": prefix, "queue": f"{prefix}-jobs"}
    with environ(stack_env):
        return build_services(settings.model_copy(update=update))


def queued(services: Any) -> int:
    """Messages on the services' Celery queue, plus jobs saved: both zero when nothing was enqueued."""
    settings = services.settings
    depth = sum(
        int(services.redis.llen(celery_queue_key(queue=settings.queue, global_keyprefix=services.keys.celery(),
                                                 priority=p)))
        for p in PRIORITIES
    )  # fmt: skip
    return depth


def saved_jobs(services: Any) -> int:
    prefix = f"{services.settings.key_prefix}:job:"
    # A job's own record, not its sub-keys (refs, answer, the lease line's gate...).
    return sum(1 for key in services.redis.scan_iter(match=f"{prefix}*", count=1000)
               if b":" not in key[len(prefix):])  # fmt: skip


def console_as(services: Any, router: Any, user: str, locale: str | None = None) -> Transcript:
    """A console transcript for ``user`` (each test its own, so that usage never mixes)."""
    chat = Transcript(services=services, router=router, locale=locale)
    chat.session = ConsoleSession(
        router=router, events=services.events, max_attachment_bytes=services.settings.max_attachment_bytes,
        out=chat.out, reply_timeout=60, user=user, locale=locale,
    )  # fmt: skip
    return chat
