"""The Celery application. Configuration only; the task lives in worker/tasks.py."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init

from core.settings import Settings, get_settings


def create_app(settings: Settings) -> Celery:
    """One configuration for the worker and for every producer (adapters, tests), so both
    sides agree on broker, queue and key prefix."""
    app = Celery("tertulia", broker=settings.effective_broker_url, include=["worker.tasks"], set_as_current=False)
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        # An LLM call is long I/O: one process holds many in flight on threads (docs/decisions.md).
        worker_pool="worker.pool:TaskPool",  # Celery's threads pool, fit for a cold shutdown
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


app = create_app(get_settings())


# --- logging, health and metrics of a worker process (however it was started) ---------


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    # Connecting to this signal stops Celery from installing its own (unredacted) handlers.
    from tertulia.logs import configure_logging

    configure_logging(loglevel or "INFO")


@worker_init.connect
def _start_ops(**_: Any) -> None:
    from tertulia.bootstrap import process_services
    from tertulia.observability import model_readiness, start_process_ops

    services = process_services()
    start_process_ops(services.settings, model_healthy=model_readiness(services), celery_app=app)
