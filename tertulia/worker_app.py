"""The worker process's Celery app, wired here: ``celery -A tertulia.worker_app worker``
(``tertulia worker`` runs the same with this deployment's pool and queue).

Importing this module builds the app: only a worker process imports it.
"""

from __future__ import annotations

import functools
from typing import Any

from celery.signals import setup_logging, worker_init

from core.runner import JobRunner
from core.settings import get_settings
from tertulia.bootstrap import build_runner, process_services
from tertulia.logs import configure_logging
from tertulia.metrics import default_observer
from tertulia.observability import model_readiness, start_process_ops
from worker.celery_app import create_app
from worker.tasks import register_tasks

settings = get_settings()
app = create_app(settings)


@functools.cache
def runner() -> JobRunner:
    return build_runner(process_services(), observer=default_observer())


run_job = register_tasks(app, runner=runner, settings=settings)


@setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    # Connecting to this signal stops Celery from installing its own (unredacted) handlers.
    configure_logging(loglevel or "INFO")


@worker_init.connect
def _start_ops(**_: Any) -> None:
    services = process_services()
    start_process_ops(services.settings, model_healthy=model_readiness(services), celery_app=app)
