"""The composition root: the one place that builds concrete objects and wires ports.

Adapters call ``build_router``; the worker calls ``build_runner``. Platform deliveries are
found by name: ``bots.<platform>.delivery.create_delivery(services)``.
"""

from __future__ import annotations

import functools
import importlib
import threading
from dataclasses import dataclass, field

import redis

from core.models import Registry, load_registry
from core.ports import JobObserver, JobQueue, PlatformDelivery
from core.router import Router
from core.runner import JobRunner
from core.settings import Settings, get_settings
from tertulia.leases import RedisLeases
from tertulia.redis_store import (
    RedisContextStore,
    RedisDeduplicator,
    RedisJobStore,
    RedisKeys,
    RedisModelChoiceStore,
    RedisRateBudget,
)

PLATFORMS = ("console", "slack", "discord", "telegram")


@dataclass(kw_only=True)
class Services:
    settings: Settings
    redis: redis.Redis[bytes]
    keys: RedisKeys
    jobs: RedisJobStore
    context: RedisContextStore
    choices: RedisModelChoiceStore
    budget: RedisRateBudget
    dedupe: RedisDeduplicator
    registry: Registry
    _deliveries: dict[str, PlatformDelivery] = field(default_factory=dict)
    _queue: JobQueue | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self) -> JobQueue:
        """The producer side of Celery, configured from these settings (not the process's)."""
        from worker.celery_app import create_app
        from worker.queue import CeleryJobQueue

        with self._lock:
            if self._queue is None:
                self._queue = CeleryJobQueue(create_app(self.settings), queue=self.settings.queue)
            return self._queue

    def delivery(self, platform: str) -> PlatformDelivery:
        with self._lock:
            if platform not in self._deliveries:
                if platform not in PLATFORMS:
                    raise ValueError(f"unknown platform {platform!r}")
                module = importlib.import_module(f"bots.{platform}.delivery")
                self._deliveries[platform] = module.create_delivery(self)
            return self._deliveries[platform]


def build_services(settings: Settings | None = None) -> Services:
    settings = settings or get_settings()
    # redis-py caps a pool at 100 connections and raises past it; a worker runs
    # worker_concurrency jobs at once, each needing one now and then: size the pool for
    # that and let a job wait for a free connection rather than fail.
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.worker_concurrency + 32, timeout=30, health_check_interval=30
    )
    client = redis.Redis(connection_pool=pool)
    keys = RedisKeys(settings.key_prefix)
    leases = RedisLeases(
        client, settings.key_prefix, lease_seconds=settings.lease_seconds, job_ttl_seconds=settings.job_ttl_seconds,
        max_per_conversation=settings.max_waiting_per_conversation, max_per_user=settings.max_waiting_per_user,
    )  # fmt: skip
    return Services(
        settings=settings,
        redis=client,
        keys=keys,
        jobs=RedisJobStore(client, keys, ttl_seconds=settings.job_ttl_seconds, leases=leases),
        context=RedisContextStore(client, keys, ttl_seconds=settings.context_ttl_seconds),
        choices=RedisModelChoiceStore(client, keys, ttl_seconds=settings.context_ttl_seconds),
        budget=RedisRateBudget(client, keys),
        dedupe=RedisDeduplicator(client, keys),
        registry=load_registry(settings.models_file, default_override=settings.default_model),
    )


@functools.cache
def process_services() -> Services:
    """The one Services of this process (one Redis pool, one registry), for the pieces a
    worker process starts separately: the task runner and the health/metrics servers."""
    return build_services()


def build_router(services: Services, *, bot_username: str | None = None) -> Router:
    return Router(
        jobs=services.jobs,
        queue=services.queue(),
        context=services.context,
        choices=services.choices,
        model_names=services.registry.names,
        max_input_chars=services.settings.max_input_chars,
        max_attachment_bytes=services.settings.max_attachment_bytes,
        bot_username=bot_username,
    )


def build_runner(services: Services, *, observer: JobObserver | None = None) -> JobRunner:
    from worker.llm.directory import ModelClients

    return JobRunner(
        jobs=services.jobs,
        context=services.context,
        choices=services.choices,
        models=ModelClients(services.registry, settings=services.settings),
        registry=services.registry,
        platforms=services.delivery,
        budget=services.budget,
        max_document_chars=services.settings.max_document_chars,
        max_attachment_bytes=services.settings.max_attachment_bytes,
        observer=observer,
    )
