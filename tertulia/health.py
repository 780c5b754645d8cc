"""Liveness and readiness over HTTP, for container healthchecks and orchestrators.

``GET /healthz``: the process is alive and its HTTP thread answers (200, always).
``GET /readyz``: every readiness check passes (200) or not (503), with each check's result.
A check is a callable returning a bool; each runs with a deadline, so a hung dependency
makes the process "not ready" instead of hanging the probe.

``tertulia health [--ready]`` (``main`` below) probes this process's own endpoint and
exits 0/1, so the image needs no curl for its healthcheck.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.settings import Settings

log = logging.getLogger(__name__)

Check = Callable[[], bool]


class HealthServer:
    """A ThreadingHTTPServer on a daemon thread. ``port`` is the bound port (useful with 0)."""

    def __init__(self, *, host: str, port: int, checks: Mapping[str, Check], check_timeout: float) -> None:
        self._checks = dict(checks)
        self._timeout = check_timeout
        # Its own pool: checks must not queue behind the work of the process they judge.
        self._pool = ThreadPoolExecutor(max_workers=max(2, len(self._checks) * 2), thread_name_prefix="readyz")
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def readiness(self) -> tuple[bool, dict[str, str]]:
        futures: dict[str, Future[bool]] = {name: self._pool.submit(check) for name, check in self._checks.items()}
        results: dict[str, str] = {}
        for name, future in futures.items():
            try:
                results[name] = "ok" if future.result(timeout=self._timeout) else "fail"
            except FutureTimeout:
                results[name] = "timeout"
            except Exception as exc:  # the probe reports; it never raises
                results[name] = f"error: {type(exc).__name__}"
        return all(v == "ok" for v in results.values()), results


def _handler_for(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._reply(200, {"status": "ok"})
            elif path == "/readyz":
                ready, checks = server.readiness()
                self._reply(200 if ready else 503, {"status": "ready" if ready else "not ready", "checks": checks})
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a probe every few seconds is not news; failures show in /readyz bodies

    return Handler


def start_health_server(
    *,
    port: int,
    checks: Mapping[str, Check] | None = None,
    host: str = "0.0.0.0",
    check_timeout: float = 3.0,
) -> HealthServer:
    """Serve /healthz and /readyz on ``port`` (0: any free port; read ``.port``)."""
    server = HealthServer(host=host, port=port, checks=checks or {}, check_timeout=check_timeout).start()
    log.info("health endpoints on :%d (/healthz, /readyz: %s)", server.port, ", ".join(checks or {}) or "-")
    return server


def redis_check(url: str, *, timeout: float = 2.0) -> Check:
    """PING with short timeouts and no retries: the probe must answer within its deadline."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )

    def check() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    return check


def broker_check(url: str, *, timeout: float = 2.0) -> Check:
    """The Celery broker: a PING for Redis, else a kombu connection attempt."""
    if url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return redis_check(url, timeout=timeout)

    def check() -> bool:
        from kombu import Connection

        try:
            with Connection(url, connect_timeout=timeout) as conn:
                conn.ensure_connection(max_retries=0)
            return True
        except Exception:
            return False

    return check


def readiness_checks(settings: Settings, *, model_healthy: Check | None = None) -> dict[str, Check]:
    """Redis and the broker for every process; the model server too when given (workers)."""
    checks: dict[str, Check] = {"redis": redis_check(settings.redis_url)}
    if settings.effective_broker_url != settings.redis_url:
        checks["broker"] = broker_check(settings.effective_broker_url)
    else:
        checks["broker"] = checks["redis"]
    if model_healthy is not None:
        checks["model"] = model_healthy
    return checks


def start_for(settings: Settings, *, model_healthy: Check | None = None) -> HealthServer | None:
    """What the composition root calls: a server when ``TERTULIA_HEALTH_PORT`` is set."""
    if not settings.health_port:
        return None
    checks = readiness_checks(settings, model_healthy=model_healthy)
    return start_health_server(port=settings.health_port, checks=checks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tertulia health", description="Probe this host's health endpoint.")
    parser.add_argument("--ready", action="store_true", help="probe /readyz instead of /healthz")
    parser.add_argument("--url", help="base URL (default: http://127.0.0.1:$TERTULIA_HEALTH_PORT)")
    parser.add_argument("--timeout", type=float, default=5.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when the endpoint answers 200, 1 otherwise (2: nothing configured)."""
    args = build_parser().parse_args(argv)
    base = args.url
    if not base:
        from core.settings import get_settings

        port = get_settings().health_port
        if not port:
            print("no health endpoint: set TERTULIA_HEALTH_PORT")
            return 2
        base = f"http://127.0.0.1:{port}"
    url = base.rstrip("/") + ("/readyz" if args.ready else "/healthz")
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            print(response.read().decode(errors="replace"))
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(errors="replace"))
        return 1
    except OSError as exc:
        print(f"{url}: {exc}")
        return 1
