"""Prometheus metrics: a JobObserver for the runner, queue-depth and model-up collectors, the
endpoint. ``register_process_metrics`` is everything one process exports; the dashboard and
alert rules under deploy/ may name only what it registers (tests/unit/test_dashboards.py).

Every long-running process serves its own registry on ``TERTULIA_METRICS_PORT``. The
Celery worker runs the threads pool, so one worker process is one registry and one port;
no multiprocess mode is needed (docs/decisions.md). Scale workers with more containers,
each scraped on its own address.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Seconds. Time to first token spans a warm GPU (tens of ms) to a queued, cold one (a minute).
_TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
# From job creation to the final text in chat: includes queueing and the whole generation.
_DELIVERY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_WAIT_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# From the model request to its last token: one generation (a map-reduce summary makes several).
_GENERATION_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

# The generation in progress in this job's context: (kind, model, monotonic start). The runner
# calls first_token and then tokens for one generation on the job's own thread, so a context
# variable links the two without the JobObserver port carrying a request id.
_generation: contextvars.ContextVar[tuple[str, str, float] | None] = contextvars.ContextVar(
    "tertulia_generation", default=None
)

# Kombu's Redis transport keeps a queue at priority p > 0 in "<queue>\x06\x16<p>" (its
# default priority steps); messages without a priority go to "<queue>" itself.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


class PrometheusObserver:
    """``core.ports.JobObserver`` over prometheus-client. Methods never raise."""

    def __init__(self, *, registry: CollectorRegistry = REGISTRY) -> None:
        self.jobs_started = Counter(
            "tertulia_jobs_started", "Job attempts started, by command", ["kind", "platform"], registry=registry
        )
        self.jobs = Counter(
            "tertulia_jobs",
            "Job attempts finished, by command and outcome "
            "(ok, stopped, retry, model_busy, rejected, input_error, error)",
            ["kind", "platform", "outcome"],
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "tertulia_time_to_first_token_seconds",
            "From the model request to its first streamed token",
            ["kind", "model"],
            buckets=_TTFT_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "tertulia_prompt_tokens", "Tokens sent to the model (input)", ["kind", "model"], registry=registry
        )
        self.generated_tokens = Counter(
            "tertulia_generated_tokens", "Tokens the model generated (output)", ["kind", "model"], registry=registry
        )
        self.model_errors = Counter(
            "tertulia_model_errors",
            "Model-server errors, by type (overloaded, unavailable, timeout, ...)",
            ["model", "error_type"],
            registry=registry,
        )
        self.platform_429 = Counter(
            "tertulia_platform_rate_limited",
            "Platform 429 answers (rate limits), by platform",
            ["platform"],
            registry=registry,
        )
        self.rate_limit_wait = Histogram(
            "tertulia_platform_rate_limit_wait_seconds",
            "Waits imposed by platform rate limits (Retry-After), by platform",
            ["platform"],
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )
        self.generation_time = Histogram(
            "tertulia_generation_seconds",
            "From the model request to its last streamed token (time to the final text), by command and model",
            ["kind", "model"],
            buckets=_GENERATION_BUCKETS,
            registry=registry,
        )
        self.feedback_votes = Counter(
            "tertulia_feedback",
            "Votes on answers (a changed vote counts here again, and its old vote in tertulia_feedback_withdrawn)",
            ["model", "kind", "vote"],
            registry=registry,
        )
        self.feedback_withdrawn = Counter(
            "tertulia_feedback_withdrawn",
            "Votes replaced by the same user's other vote on the same answer",
            ["model", "kind", "vote"],
            registry=registry,
        )
        self.delivery_latency = Histogram(
            "tertulia_delivery_latency_seconds",
            "From the job's creation to its final text landing in chat",
            ["platform"],
            buckets=_DELIVERY_BUCKETS,
            registry=registry,
        )

    def job_started(self, *, kind: str, platform: str) -> None:
        _safely(self.jobs_started.labels(kind=kind, platform=platform).inc)

    def first_token(self, *, kind: str, model: str, seconds: float) -> None:
        _generation.set((kind, model, time.monotonic() - max(0.0, seconds)))
        _safely(lambda: self.time_to_first_token.labels(kind=kind, model=model).observe(max(0.0, seconds)))

    def tokens(self, *, kind: str, model: str, prompt_tokens: int, generated_tokens: int) -> None:
        current = _generation.get()
        _generation.set(None)

        def count() -> None:
            if current is not None and current[:2] == (kind, model):
                self.generation_time.labels(kind=kind, model=model).observe(max(0.0, time.monotonic() - current[2]))
            if prompt_tokens > 0:
                self.prompt_tokens.labels(kind=kind, model=model).inc(prompt_tokens)
            if generated_tokens > 0:
                self.generated_tokens.labels(kind=kind, model=model).inc(generated_tokens)

        _safely(count)

    def job_finished(self, *, kind: str, platform: str, outcome: str) -> None:
        _safely(self.jobs.labels(kind=kind, platform=platform, outcome=outcome).inc)

    def model_error(self, *, model: str, error_type: str) -> None:
        _generation.set(None)  # that generation ends here, untimed
        _safely(self.model_errors.labels(model=model, error_type=error_type).inc)

    def rate_limited(self, *, platform: str, seconds: float) -> None:
        def count() -> None:
            self.platform_429.labels(platform=platform).inc()
            self.rate_limit_wait.labels(platform=platform).observe(max(0.0, seconds))

        _safely(count)

    def delivered(self, *, platform: str, seconds: float) -> None:
        _safely(lambda: self.delivery_latency.labels(platform=platform).observe(max(0.0, seconds)))


    def feedback(self, *, model: str, command: str, vote: str, replaced: str | None) -> None:
        """``core.control_ports.FeedbackObserver``: the net votes are feedback - withdrawn."""
        _safely(self.feedback_votes.labels(model=model, kind=command, vote=vote).inc)
        if replaced is not None:
            _safely(self.feedback_withdrawn.labels(model=model, kind=command, vote=replaced).inc)


def _safely(action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception:  # metrics must never fail a job
        log.debug("metric update failed", exc_info=True)


def celery_queue_key(*, queue: str, global_keyprefix: str = "", priority: int = 0) -> str:
    """The Redis list holding a Celery queue under kombu's Redis transport."""
    name = f"{queue}{_PRIORITY_SEP}{priority}" if priority else queue
    return f"{global_keyprefix}{name}"


class QueueDepthCollector(Collector):
    """Reads the broker at scrape time: messages waiting per queue, and messages delivered
    to a worker but not yet acknowledged (in flight, ``acks_late``). A dead broker yields
    no sample rather than a failed scrape."""

    def __init__(self, *, client: redis.Redis[Any], queues: Iterable[str], global_keyprefix: str = "") -> None:
        self._client = client
        self._queues = tuple(queues)
        self._prefix = global_keyprefix

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily("tertulia_queue_depth", "Jobs waiting in the broker queue", labels=["queue"])
        unacked = GaugeMetricFamily(
            "tertulia_queue_unacked", "Jobs taken by a worker and not yet acknowledged", labels=[]
        )
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for queue in self._queues:
                    for priority in _PRIORITY_STEPS:
                        pipe.llen(celery_queue_key(queue=queue, global_keyprefix=self._prefix, priority=priority))
                pipe.hlen(f"{self._prefix}unacked")
                sizes = pipe.execute()
        except redis.RedisError:
            log.debug("queue depth unavailable", exc_info=True)
            yield waiting  # the families without samples: the names stay known, no value is made up
            yield unacked
            return
        steps = len(_PRIORITY_STEPS)
        for i, queue in enumerate(self._queues):
            waiting.add_metric([queue], float(sum(int(n) for n in sizes[i * steps : (i + 1) * steps])))
        unacked.add_metric([], float(sizes[-1]))
        yield waiting
        yield unacked

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Describing without collecting keeps registration from touching Redis.
        yield GaugeMetricFamily("tertulia_queue_depth", "Jobs waiting in the broker queue", labels=["queue"])
        yield GaugeMetricFamily("tertulia_queue_unacked", "Jobs taken by a worker and not yet acknowledged")


def queue_depth_collector(
    *, broker_url: str, queue: str, global_keyprefix: str, timeout: float = 2.0
) -> QueueDepthCollector:
    """A collector with its own short-timeout client, so a slow broker cannot stall a scrape."""
    client = redis.Redis.from_url(broker_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return QueueDepthCollector(client=client, queues=[queue], global_keyprefix=global_keyprefix)


def register_queue_depth(app: Any, *, registry: CollectorRegistry = REGISTRY) -> QueueDepthCollector:
    """Register queue depth for a Celery ``app``: its broker, default queue and the
    ``global_keyprefix`` of its ``broker_transport_options`` (kombu prepends it to every key)."""
    conf = app.conf
    options = conf.broker_transport_options or {}
    collector = queue_depth_collector(
        broker_url=str(conf.broker_url),
        queue=str(conf.task_default_queue),
        global_keyprefix=str(options.get("global_keyprefix", "")),
    )
    registry.register(collector)
    return collector


class ModelUpCollector(Collector):
    """``tertulia_model_up{model}``: 1 when the model server answers its health check at
    scrape time, else 0. ``status`` returns {model name: reachable} (cached by the caller:
    ``ModelClients.reachable`` remembers an answer for a few seconds)."""

    def __init__(self, status: Callable[[], Mapping[str, bool]]) -> None:
        self._status = status

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "tertulia_model_up", "1 when the model server answers its health check, else 0", labels=["model"]
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        try:
            status = dict(self._status())
        except Exception:  # a scrape must not fail because a check did
            log.debug("model status unavailable", exc_info=True)
            status = {}
        for model, up in sorted(status.items()):
            family.add_metric([model], 1.0 if up else 0.0)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()


def register_process_metrics(
    registry: CollectorRegistry = REGISTRY,
    *,
    celery_app: Any = None,
    model_status: Callable[[], Mapping[str, bool]] | None = None,
) -> PrometheusObserver:
    """Everything one process exports: the job metrics, the process's CPU, memory and
    file descriptors (prometheus_client's process collector), and, for a worker, queue
    depth and model reachability. The default registry has the process, platform and GC
    collectors from import; a fresh registry (tests) gets its own."""
    observer = default_observer() if registry is REGISTRY else PrometheusObserver(registry=registry)
    if registry is not REGISTRY:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    if celery_app is not None:
        register_queue_depth(celery_app, registry=registry)
    if model_status is not None:
        registry.register(ModelUpCollector(model_status))
    return observer


def series_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a scrape of ``registry`` can show, including families that have
    no sample yet (a labelled counter before its first job): ``x_total`` and ``x_created``
    for a counter, ``x_bucket``, ``x_sum``, ``x_count`` for a histogram, and so on."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


_started: dict[int, Any] = {}
_started_lock = threading.Lock()


def start_metrics_server(port: int, *, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> int:
    """Serve ``/metrics`` for this process on ``port`` (0: any free port). Returns the port.

    Idempotent per port, so a second call in the same process does not fail on the bind.
    """
    with _started_lock:
        if port and port in _started:
            return port
        server, _thread = start_http_server(port, addr=addr, registry=registry)
        bound = int(server.server_address[1])
        _started[bound] = server
    log.info("metrics on :%d/metrics", bound)
    return bound


_observer: PrometheusObserver | None = None
_observer_lock = threading.Lock()


def default_observer() -> PrometheusObserver:
    """The process-wide observer on the default registry (metrics can be registered once)."""
    global _observer
    with _observer_lock:
        if _observer is None:
            _observer = PrometheusObserver()
        return _observer
