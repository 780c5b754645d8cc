"""Per-process observability wiring, kept out of the entrypoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.settings import Settings
from tertulia.bootstrap import Services
from tertulia.health import start_for
from tertulia.metrics import register_process_metrics, start_metrics_server
from worker.llm.directory import ModelClients


class ModelReadiness:
    """The worker is ready when every model it sends jobs to by default answers /health.
    ``by_model`` is the same check per model, for the ``tertulia_model_up`` gauge."""

    def __init__(self, services: Services) -> None:
        registry = services.registry
        self._models = ModelClients(registry, settings=services.settings)
        self._names = sorted({registry.default, *(n for n in registry.jobs.values() if n in registry.models)})

    def by_model(self) -> dict[str, bool]:
        return {name: self._models.reachable(name) for name in self._names}

    def __call__(self) -> bool:
        return all(self.by_model().values())


def model_readiness(services: Services) -> ModelReadiness:
    return ModelReadiness(services)


def start_process_ops(
    settings: Settings, *, model_healthy: Callable[[], bool] | None = None, celery_app: Any = None
) -> None:
    """Health (/healthz, /readyz) and metrics (/metrics) of one long-running process;
    each only when its port setting is non-zero. Called once per process, by its root."""
    if settings.metrics_port:
        # The job metrics exist (at zero) before the first job.
        register_process_metrics(
            celery_app=celery_app,
            model_status=model_healthy.by_model if isinstance(model_healthy, ModelReadiness) else None,
        )
        start_metrics_server(settings.metrics_port)
    start_for(settings, model_healthy=model_healthy)
