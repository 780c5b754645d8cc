"""Per-process observability wiring, kept out of the entrypoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.settings import Settings
from tertulia.bootstrap import Services
from tertulia.health import start_for
from tertulia.metrics import default_observer, register_queue_depth, start_metrics_server
from worker.llm.directory import ModelClients


def model_readiness(services: Services) -> Callable[[], bool]:
    """The worker is ready when every model it sends jobs to by default answers /health."""
    registry = services.registry
    models = ModelClients(registry, settings=services.settings)
    names = sorted({registry.default, *(n for n in registry.jobs.values() if n in registry.models)})
    return lambda: all(models.reachable(name) for name in names)


def start_process_ops(
    settings: Settings, *, model_healthy: Callable[[], bool] | None = None, celery_app: Any = None
) -> None:
    """Health (/healthz, /readyz) and metrics (/metrics) of one long-running process;
    each only when its port setting is non-zero. Called once per process, by its root."""
    if settings.metrics_port:
        default_observer()  # the job metrics exist (at zero) before the first job
        if celery_app is not None:
            register_queue_depth(celery_app)
        start_metrics_server(settings.metrics_port)
    start_for(settings, model_healthy=model_healthy)
