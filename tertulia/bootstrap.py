"""The composition root: the one place that builds concrete objects and wires ports.

Entrypoints (tertulia/cli.py, tertulia/worker_app.py) build one ``Services`` per process
and hand each adapter, and the worker, what it needs; nothing under bots/ or worker/
imports this package. A platform's delivery is built by ``bots.<platform>.delivery.
create_delivery(PlatformResources)``, imported by name so that a process loads only the
SDKs of the platforms it answers on.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from bots.discord.address import DiscordAddress
from bots.slack.address import SlackAddress
from bots.telegram.address import TelegramAddress
from core.accounting import Accounting
from core.budget import LocalRateBudget
from core.guard import Gate
from core.messages import NoAddress, ReplyAddress
from core.models import Registry, load_registry
from core.ports import JobObserver, JobQueue, KeyValue, PlatformDelivery, PlatformResources, RateBudget
from core.router import Router
from core.runner import JobRunner
from core.settings import Settings, get_settings
from tertulia.context_store import RedisContextStore, RedisCutStore
from tertulia.control_store import PolledStops, RedisControlStore
from tertulia.event_log import RedisEventLog
from tertulia.leases import RedisLeases
from tertulia.logs import job_logging
from tertulia.metrics import default_observer
from tertulia.policy_file import PolicyFile
from tertulia.policy_store import RedisAdmission, RedisPersonaStore, RedisUsageLedger
from tertulia.read_ahead import ReadAhead, WritesBehind
from tertulia.redis_store import (
    RedisDeduplicator,
    RedisJobStore,
    RedisKeys,
    RedisKeyValue,
    RedisModelChoiceStore,
    RedisRateBudget,
)
from worker.celery_app import create_app
from worker.llm.directory import ModelClients
from worker.queue import CeleryJobQueue

PLATFORMS = ("console", "slack", "discord", "telegram")


_ADDRESS_TYPES: dict[str, Callable[[dict[str, Any]], ReplyAddress]] = {
    "slack": SlackAddress.from_json,
    "discord": DiscordAddress.from_json,
    "telegram": TelegramAddress.from_json,
}


class PlatformAddresses:
    """Each platform's reply-address type, for jobs read back from Redis."""

    def decode(self, platform: str, data: dict[str, Any]) -> ReplyAddress:
        build = _ADDRESS_TYPES.get(platform)
        return build(data) if build is not None else NoAddress()


@dataclass(kw_only=True)
class Services:
    settings: Settings
    redis: redis.Redis[bytes]
    keys: RedisKeys
    jobs: RedisJobStore
    context: RedisContextStore
    cuts: RedisCutStore
    choices: RedisModelChoiceStore
    budget: RateBudget
    dedupe: RedisDeduplicator
    events: RedisEventLog
    registry: Registry
    policy: PolicyFile
    admission: RedisAdmission
    usage: RedisUsageLedger
    personas: RedisPersonaStore
    controls: RedisControlStore
    stops: PolledStops  # the worker's one look at the stop flags of the jobs it streams
    # What a worker thread read with its job, and the writes that go with its next
    # transaction (tertulia/read_ahead.py): fewer round trips per job (issue 12).
    ahead: ReadAhead = field(default_factory=ReadAhead)
    writes: WritesBehind = field(default_factory=WritesBehind)
    _deliveries: dict[str, PlatformDelivery] = field(default_factory=dict)
    _queue: JobQueue | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def memory(self, namespace: str, ttl_seconds: int) -> KeyValue:
        return RedisKeyValue(self.redis, self.keys, namespace=namespace, ttl_seconds=ttl_seconds)

    def queue(self) -> JobQueue:
        """The producer side of Celery, configured from these settings (not the process's)."""
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
                self._deliveries[platform] = module.create_delivery(self.resources())
            return self._deliveries[platform]

    def resources(self) -> PlatformResources:
        return PlatformResources(
            settings=self.settings, memory=self.memory, events=self.events, load_refs=self.jobs.load_refs
        )


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
    registry = load_registry(settings.models_file, default_override=settings.default_model)
    leases = RedisLeases(
        client, settings.key_prefix, lease_seconds=settings.lease_seconds, job_ttl_seconds=settings.job_ttl_seconds,
        max_per_conversation=settings.max_waiting_per_conversation, max_per_user=settings.max_waiting_per_user,
    )  # fmt: skip
    ahead, writes = ReadAhead(), WritesBehind()
    return Services(
        settings=settings,
        redis=client,
        keys=keys,
        jobs=RedisJobStore(
            client,
            keys,
            ttl_seconds=settings.job_ttl_seconds,
            addresses=PlatformAddresses(),
            leases=leases,
            ahead=ahead,
            writes=writes,
        ),
        context=RedisContextStore(
            client, keys, ttl_seconds=settings.context_ttl_seconds, max_turns=settings.context_max_turns
        ),
        # A cut answer can be continued while its job could still be delivered again.
        cuts=RedisCutStore(client, keys, ttl_seconds=settings.job_ttl_seconds),
        choices=RedisModelChoiceStore(client, keys, ttl_seconds=settings.context_ttl_seconds, ahead=ahead),
        # The console's interval is ours (it thins the event log; no platform counts updates):
        # a channel's first lease is local and later ones are longer (core/budget.py).
        budget=LocalRateBudget(
            RedisRateBudget(client, keys),
            lease=settings.rate_lease_seconds,
            ours=lambda key: key.startswith("console:"),
            our_lease=settings.console_rate_lease_seconds,
        ),
        dedupe=RedisDeduplicator(client, keys),
        events=RedisEventLog(client, keys, refs_ttl_seconds=settings.job_ttl_seconds, ahead=ahead),
        registry=registry,
        policy=PolicyFile(settings.policy_file, known_models=registry.names()),
        admission=RedisAdmission(client, keys),
        usage=RedisUsageLedger(client, keys),
        personas=RedisPersonaStore(client, keys, ahead=ahead),
        controls=RedisControlStore(client, keys, ttl_seconds=settings.job_ttl_seconds, ahead=ahead),
        stops=PolledStops(client, keys),
        ahead=ahead,
        writes=writes,
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
        max_image_bytes=services.settings.max_image_bytes,
        bot_username=bot_username,
        gate=Gate(
            policy=services.policy,
            admission=services.admission,
            usage=services.usage,
            personas=services.personas,
            once=services.dedupe,
            models=services.registry,
            controls=services.controls,
        ),
        controls=services.controls,
        feedback=default_observer(),
    )


def build_runner(services: Services, *, observer: JobObserver | None = None) -> JobRunner:
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
        max_image_bytes=services.settings.max_image_bytes,
        observer=observer,
        logging=job_logging,
        # The worker's writes that ride with the job's next transaction: the facts with the
        # answer, the usage and the freed slot with the lease's finish (tertulia/read_ahead.py).
        accounting=Accounting(
            usage=RedisUsageLedger(services.redis, services.keys, writes=services.writes),
            admission=RedisAdmission(services.redis, services.keys, writes=services.writes),
            personas=services.personas,
        ),
        cuts=services.cuts,
        controls=RedisControlStore(
            services.redis,
            services.keys,
            ttl_seconds=services.settings.job_ttl_seconds,
            ahead=services.ahead,
            writes=services.writes,
        ),
        stops=services.stops,
    )
