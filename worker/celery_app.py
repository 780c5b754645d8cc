"""The Celery configuration, one for the worker and every producer (adapters, tests), so
both sides agree on broker, queue, pool and key prefix. Nothing here builds an app at
import time: the worker's app is wired by the composition root (tertulia/worker_app.py)."""

from __future__ import annotations

from celery import Celery

from core.settings import Settings

# An LLM call is long I/O: one process holds many in flight on threads (docs/decisions.md).
POOL = "threads"


def create_app(settings: Settings) -> Celery:
    app = Celery("tertulia", broker=settings.effective_broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_pool=POOL,
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # Longer than any job, so an unacked job is not redelivered while it still runs.
        broker_transport_options={"visibility_timeout": 3600, "global_keyprefix": f"{settings.key_prefix}:celery:"},
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def worker_argv(settings: Settings, extra: list[str]) -> list[str]:
    """``celery worker`` arguments for this deployment; ``extra`` goes last (it wins)."""
    return [
        "worker",
        "-P", POOL,
        "-c", str(settings.worker_concurrency),
        "-Q", settings.queue,
        "-l", settings.log_level,
        *extra,
    ]
