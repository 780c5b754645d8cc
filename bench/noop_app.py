"""Raw Celery's ceiling on this machine: the same broker, pool, concurrency and settings as
the worker (``worker.celery_app.create_app``), and a task that only counts itself (one
INCR, so the benchmark can tell when the last one ran).

Run: ``celery -A bench.noop_app worker ...`` with the deployment's TERTULIA_* environment.
"""

from __future__ import annotations

import redis

from core.settings import get_settings
from worker.celery_app import create_app

NOOP = "bench.noop"
settings = get_settings()
app = create_app(settings)
_counter: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)


def counter_key(prefix: str) -> str:
    return f"{prefix}:bench:noop-done"


@app.task(name=NOOP, ignore_result=True)
def noop() -> None:
    _counter.incr(counter_key(settings.key_prefix))
