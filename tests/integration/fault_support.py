"""Real processes for fault tests: a private redis-server we may kill, a stack of our own
(key prefix, queue, fake model) beside the session's, and workers we may SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import redis

from fakes.tgi_server import FakeTGI
from fakes.waiting import free_port, wait_until
from tests.integration.console_support import Transcript
from tests.support.processes import WorkerHandle, environ, running_worker


class PrivateRedis:
    """A redis-server on a port of its own, append-only file on, that a test kills and
    restarts (SIGKILL: as a crash or an OOM kill would)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the Redis outage tests"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, timeout=20)
        return self

    def answers(self) -> bool:
        try:
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        self.kill()


def stack_env_for(base: dict[str, str], *, tgi: FakeTGI, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The session's environment with a key prefix, a queue and a model server of this
    test's own, so its workers never take the session worker's jobs or the reverse."""
    tag = uuid.uuid4().hex[:6]
    env = dict(base)
    env.update(
        {
            "TERTULIA_KEY_PREFIX": f"{base['TERTULIA_KEY_PREFIX']}:f{tag}",
            "TERTULIA_QUEUE": f"{base['TERTULIA_KEY_PREFIX']}-f{tag}",
            "TERTULIA_TGI_URL": tgi.url,
            "TERTULIA_LEASE_SECONDS": "4",
            "TERTULIA_WORKER_CONCURRENCY": "8",
            "TERTULIA_SOFT_SHUTDOWN_SECONDS": "1",  # test teardowns stop workers with jobs still queued
        }
    )
    if redis_url is not None:
        env["TERTULIA_REDIS_URL"] = redis_url
    env.update(extra)
    return env


class Stack:
    """Producer side of ``env``: services, a router and a console transcript."""

    def __init__(self, env: dict[str, str]) -> None:
        from core.settings import Settings
        from tertulia.bootstrap import build_router, build_services

        self.env = env
        with environ(env):
            self.settings = Settings()
            self.services = build_services(self.settings)
            self.router = build_router(self.services)

    def transcript(self, user: str = "tester", reply_timeout: float = 90) -> Transcript:
        return Transcript(services=self.services, router=self.router, user=user, reply_timeout=reply_timeout)

    def worker(self, log_path: Path, **extra: str) -> AbstractContextManager[WorkerHandle]:
        return running_worker(env={**self.env, **extra}, log_path=log_path)

    def key(self, *parts: str) -> str:
        return ":".join((self.settings.key_prefix, *parts))


def slow_tgi(*, between_tokens: float) -> FakeTGI:
    server = FakeTGI().start()
    server.set_delays(between_tokens=between_tokens)
    return server


@contextmanager
def fake_model(between_tokens: float = 0.0) -> Iterator[FakeTGI]:
    server = slow_tgi(between_tokens=between_tokens)
    try:
        yield server
    finally:
        server.stop()


def words(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def finals(chat: Transcript, job_id: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for event in chat.events():
        if event["job"] == job_id and event["op"] == "finish":
            out[event["ref"]] = event["text"]
    return out


def posts(chat: Transcript, job_id: str) -> list[str]:
    return [e["ref"] for e in chat.events() if e["job"] == job_id and e["op"] == "post"]


def sigkill(handle: WorkerHandle) -> None:
    handle.proc.send_signal(signal.SIGKILL)
    handle.proc.wait(10)


def first_text(chat: Transcript, job_id: str, timeout: float = 30) -> None:
    """Until the job's answer has begun to show."""
    def shown() -> bool:
        return any(e["job"] == job_id and e["op"] in ("post", "update") for e in chat.events())

    wait_until(shown, timeout=timeout)


def rabbitmq_url() -> str | None:
    """The local RabbitMQ broker, if one answers (the tests for it skip otherwise)."""
    url = os.environ.get("TERTULIA_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        from kombu import Connection

        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return url
    except Exception:
        return None
