"""Per-process observability wiring, kept out of the entrypoints."""

from __future__ import annotations

from core.ports import JobObserver, NullObserver


def worker_observer() -> JobObserver:
    try:
        from tertulia.metrics import PrometheusObserver
    except ImportError:
        return NullObserver()
    return PrometheusObserver()
