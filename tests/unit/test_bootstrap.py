from __future__ import annotations

import redis

from core.settings import Settings
from tertulia.bootstrap import build_services


def test_redis_pool_holds_every_concurrent_job() -> None:
    # redis-py's default pool raises past 100 connections; a worker runs 256 jobs at once.
    services = build_services(Settings(worker_concurrency=300, redis_url="redis://127.0.0.1:1/0"))
    pool = services.redis.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.max_connections >= 300
