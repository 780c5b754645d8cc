"""Health and metrics endpoints over real HTTP, with Redis reachable and not; queue depth
read from the real Celery/kombu keys; a metric that moves when a real worker runs a job.

"Redis unreachable" is a port on 127.0.0.1 where nothing listens.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from core.messages import InboundMessage
from core.router import Router
from core.settings import Settings
from tertulia.health import main as health_main
from tertulia.health import readiness_checks, redis_check, start_health_server
from tertulia.metrics import PrometheusObserver, register_queue_depth, start_metrics_server
from tests.conftest import free_port
from tests.support.processes import running_worker, wait_until
from worker.celery_app import create_app
from worker.queue import CeleryJobQueue

pytestmark = pytest.mark.integration


def get(url: str, *, timeout: float = 10.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def sample(body: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None if absent."""
    for line in body.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


@pytest.fixture
def dead_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/13"


def model_health(url: str, settings: Settings) -> Any:
    """The worker's real model client's health check (TGI ``/health``)."""
    from core.models import Flavour, ModelSpec
    from worker.llm.directory import make_client

    return make_client(ModelSpec(name="probe", flavour=Flavour.TGI, url=url), settings=settings).healthy


# --- health ------------------------------------------------------------------------------


def test_health_and_readiness_with_redis(settings: Settings, tgi: Any) -> None:
    tgi.reset()
    checks = readiness_checks(settings, model_healthy=model_health(tgi.url, settings))
    server = start_health_server(port=0, checks=checks)
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert get(f"{base}/healthz") == (200, json.dumps({"status": "ok"}))
        status, body = get(f"{base}/readyz")
        assert status == 200, body
        assert json.loads(body) == {"status": "ready", "checks": {"redis": "ok", "broker": "ok", "model": "ok"}}
        assert health_main(["--url", base, "--ready"]) == 0
        assert get(f"{base}/nope")[0] == 404
    finally:
        server.stop()


def test_not_ready_without_redis_but_still_alive(settings: Settings, dead_redis_url: str) -> None:
    offline = settings.model_copy(update={"redis_url": dead_redis_url})
    server = start_health_server(port=0, checks=readiness_checks(offline), check_timeout=3.0)
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert get(f"{base}/healthz")[0] == 200
        started = time.monotonic()
        status, body = get(f"{base}/readyz")
        assert time.monotonic() - started < 3.0 + 2.0  # a refused connection fails fast, within the deadline
        assert status == 503
        assert json.loads(body) == {"status": "not ready", "checks": {"redis": "fail", "broker": "fail"}}
        assert health_main(["--url", base, "--ready"]) == 1
        assert health_main(["--url", base]) == 0
    finally:
        server.stop()


def test_not_ready_when_the_model_server_is_down(settings: Settings) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    server = start_health_server(port=0, checks=readiness_checks(settings, model_healthy=model_health(down, settings)))
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/readyz")
        assert status == 503
        assert json.loads(body)["checks"] == {"redis": "ok", "broker": "ok", "model": "fail"}
    finally:
        server.stop()


def test_a_hung_check_is_reported_as_a_timeout(settings: Settings) -> None:
    def hangs() -> bool:
        time.sleep(30)
        return True

    server = start_health_server(port=0, checks={"redis": redis_check(settings.redis_url), "model": hangs},
                                 check_timeout=0.5)
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/readyz")
        assert status == 503
        assert json.loads(body)["checks"] == {"redis": "ok", "model": "timeout"}
    finally:
        server.stop()


def test_health_probe_without_a_server_fails() -> None:
    assert health_main(["--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2"]) == 1


# --- metrics -----------------------------------------------------------------------------


@pytest.fixture
def idle_queue_settings(settings: Settings, key_prefix: str, redis_client: redis.Redis) -> Iterator[Settings]:
    """A queue no worker consumes, so that what is sent there stays there."""
    queue = f"{key_prefix}-idle-{uuid.uuid4().hex[:6]}"
    yield settings.model_copy(update={"queue": queue})
    for key in redis_client.scan_iter(match=f"{settings.key_prefix}:celery:{queue}*"):
        redis_client.delete(key)


def test_queue_depth_reads_the_celery_queue(idle_queue_settings: Settings) -> None:
    app = create_app(idle_queue_settings)
    registry = CollectorRegistry()
    register_queue_depth(app, registry=registry)
    port = start_metrics_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{port}/metrics"
    queue = idle_queue_settings.queue

    status, body = get(url)
    assert status == 200
    assert sample(body, "tertulia_queue_depth", queue=queue) == 0.0

    producer = CeleryJobQueue(app, queue=queue)  # the adapters' real producer
    producer.enqueue("job-a")
    producer.enqueue("job-b")
    assert sample(get(url)[1], "tertulia_queue_depth", queue=queue) == 2.0
    assert sample(get(url)[1], "tertulia_queue_unacked") is not None


def test_metrics_answer_without_redis(idle_queue_settings: Settings, dead_redis_url: str) -> None:
    offline = idle_queue_settings.model_copy(update={"redis_url": dead_redis_url})
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry=registry)
    register_queue_depth(create_app(offline), registry=registry)
    port = start_metrics_server(0, addr="127.0.0.1", registry=registry)

    observer.job_finished(kind="chat", platform="slack", outcome="ok")
    status, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert sample(body, "tertulia_jobs_total", kind="chat", platform="slack", outcome="ok") == 1.0
    assert sample(body, "tertulia_queue_depth", queue=offline.queue) is None  # no sample, not a failed scrape


def test_observer_hooks_move_their_metrics() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry=registry)
    port = start_metrics_server(0, addr="127.0.0.1", registry=registry)

    observer.job_started(kind="code", platform="discord")
    observer.first_token(kind="code", model="codellama-instruct", seconds=0.4)
    observer.tokens(kind="code", model="codellama-instruct", prompt_tokens=120, generated_tokens=80)
    observer.model_error(model="codellama-instruct", error_type="ModelOverloaded")
    observer.rate_limited(platform="discord", seconds=2.5)
    observer.delivered(platform="discord", seconds=7.0)
    observer.job_finished(kind="code", platform="discord", outcome="ok")

    body = get(f"http://127.0.0.1:{port}/metrics")[1]
    model = {"kind": "code", "model": "codellama-instruct"}
    assert sample(body, "tertulia_jobs_started_total", kind="code", platform="discord") == 1.0
    assert sample(body, "tertulia_time_to_first_token_seconds_count", **model) == 1.0
    assert sample(body, "tertulia_time_to_first_token_seconds_bucket", le="0.5", **model) == 1.0
    assert sample(body, "tertulia_prompt_tokens_total", **model) == 120.0
    assert sample(body, "tertulia_generated_tokens_total", **model) == 80.0
    assert sample(body, "tertulia_model_errors_total", error_type="ModelOverloaded") == 1.0
    assert sample(body, "tertulia_platform_rate_limited_total", platform="discord") == 1.0
    assert sample(body, "tertulia_platform_rate_limit_wait_seconds_sum", platform="discord") == 2.5
    assert sample(body, "tertulia_delivery_latency_seconds_count", platform="discord") == 1.0
    assert sample(body, "tertulia_jobs_total", kind="code", platform="discord", outcome="ok") == 1.0


# --- a real worker process: `tertulia worker`, as the container runs it ---------------------


@pytest.fixture(scope="module")
def ops_worker(stack_env: dict[str, str], tgi: Any, redis_client: redis.Redis,
               tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """`tertulia worker` with its health and metrics ports set, on a queue of its own."""
    ports = {"health": free_port(), "metrics": free_port()}
    env = {
        **stack_env,
        "TERTULIA_QUEUE": f"{stack_env['TERTULIA_KEY_PREFIX']}-ops",
        "TERTULIA_HEALTH_PORT": str(ports["health"]),
        "TERTULIA_METRICS_PORT": str(ports["metrics"]),
        "TERTULIA_WORKER_CONCURRENCY": "4",
    }
    log_path: Path = tmp_path_factory.mktemp("ops-worker") / "worker.log"
    with running_worker(env=env, log_path=log_path) as handle:

        def up() -> bool:
            try:
                return get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=1)[0] == 200
            except OSError:
                return False

        try:
            wait_until(up, timeout=60, interval=0.2)
        except AssertionError as err:
            tail = handle.log()[-4000:]
            raise AssertionError(f"{err}; the worker's metrics endpoint never answered:\n{tail}") from None
        yield {"ports": ports, "queue": env["TERTULIA_QUEUE"], "log": log_path}


def test_worker_serves_health_and_readiness(ops_worker: dict[str, Any], tgi: Any) -> None:
    tgi.reset()
    base = f"http://127.0.0.1:{ops_worker['ports']['health']}"
    assert get(f"{base}/healthz")[0] == 200
    status, body = get(f"{base}/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"].get("model") == "ok"  # a worker also checks its model server


def test_a_job_moves_the_worker_metrics(ops_worker: dict[str, Any], services: Any, settings: Settings,
                                       tgi: Any, redis_client: redis.Redis) -> None:
    tgi.reset()
    tgi.script("Hello from the model.")
    url = f"http://127.0.0.1:{ops_worker['ports']['metrics']}/metrics"
    ok = {"kind": "chat", "platform": "console", "outcome": "ok"}
    before = sample(get(url)[1], "tertulia_jobs_total", **ok) or 0.0

    ops = settings.model_copy(update={"queue": ops_worker["queue"]})
    router = Router(
        jobs=services.jobs,
        queue=CeleryJobQueue(create_app(ops), queue=ops.queue),
        context=services.context,
        choices=services.choices,
        model_names=services.registry.names,
        max_input_chars=ops.max_input_chars,
        max_attachment_bytes=ops.max_attachment_bytes,
    )
    session = f"ops-{uuid.uuid4().hex[:8]}"
    outcome = router.handle(InboundMessage(platform="console", workspace="local", channel=session, user="op",
                                           text="/chat hello", addressed=True))
    assert outcome.job is not None

    def moved() -> float | None:
        value = sample(get(url)[1], "tertulia_jobs_total", **ok) or 0.0
        return value if value > before else None

    assert wait_until(moved, timeout=30, interval=0.2) == before + 1
    body = get(url)[1]
    assert (sample(body, "tertulia_time_to_first_token_seconds_count", kind="chat", model="tgi") or 0) >= 1
    assert (sample(body, "tertulia_generated_tokens_total", kind="chat", model="tgi") or 0) > 0
    assert (sample(body, "tertulia_delivery_latency_seconds_count", platform="console") or 0) >= 1
    assert sample(body, "tertulia_queue_depth", queue=ops.queue) == 0.0  # taken off the queue


def test_the_worker_exports_what_the_dashboard_reads(ops_worker: dict[str, Any], tgi: Any) -> None:
    """`tertulia worker` registers the model-up gauge and the process collector, besides the
    job metrics (deploy/grafana and deploy/prometheus read them)."""
    tgi.reset()
    url = f"http://127.0.0.1:{ops_worker['ports']['metrics']}/metrics"
    body = get(url)[1]
    assert sample(body, "tertulia_model_up", model="tgi") == 1.0
    assert (sample(body, "process_resident_memory_bytes") or 0) > 10_000_000
    assert sample(body, "process_cpu_seconds_total") is not None
    assert "# TYPE tertulia_generation_seconds histogram" in body
    tgi.set_healthy(False)
    try:
        # ModelClients remembers a health answer for a few seconds.
        assert wait_until(lambda: sample(get(url)[1], "tertulia_model_up", model="tgi") == 0.0, timeout=30)
    finally:
        tgi.set_healthy(True)
