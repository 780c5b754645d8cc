"""The Celery configuration, one for the worker and every producer (adapters, tests), so
both sides agree on broker, queue, pool and key prefix. Nothing here builds an app at
import time: the worker's app is wired by the composition root (tertulia/worker_app.py)."""

from __future__ import annotations

from celery import Celery

from core.settings import Settings
from worker import green


def create_app(settings: Settings) -> Celery:
    app = Celery("tertulia", broker=settings.effective_broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        # An LLM call is long I/O: one process holds many in flight on greenlets, or threads where
        # the process was not patched for gevent (worker/green.py); both fit a cold shutdown.
        worker_pool=green.pool_name(),
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # Longer than any job, so an unacked job is not redelivered while it still runs.
        broker_transport_options={"visibility_timeout": 3600, "global_keyprefix": f"{settings.key_prefix}:celery:"},
        task_serializer="json",
        accept_content=["json"],
        # SIGTERM (REMAP_SIGTERM=SIGQUIT, set by `tertulia worker`): running jobs get this long,
        # then Celery cancels and requeues them (docs/decisions.md, "Soft shutdown").
        worker_soft_shutdown_timeout=settings.soft_shutdown_seconds,
    )
    return app


def worker_argv(settings: Settings, extra: list[str]) -> list[str]:
    """``celery worker`` arguments for this deployment; ``extra`` goes last (it wins)."""
    # The pool is the app's worker_pool (green.pool_name()): Celery's -P takes only its own aliases.
    return [
        "worker",
        "-c", str(settings.worker_concurrency),
        "-Q", settings.queue,
        "-l", settings.log_level,
        *extra,
    ]
