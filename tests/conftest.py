"""Shared fixtures: a test Redis database, the local protocol servers, a real Celery worker.

Tests use their own Redis database number and a key prefix unique to the session; nothing
here flushes a database, so the suite can run next to production data.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from fakes.waiting import free_port, wait_until
from tests.support.processes import environ, running_worker

__all__ = ["free_port", "wait_until"]  # helpers other test modules import from here

REPO = Path(__file__).resolve().parent.parent
TEST_REDIS_DB = 13
FAKE_NAMES = ("tgi", "openai", "slack", "discord", "discord_gateway", "telegram", "health")
PLATFORMS = ("slack", "discord", "telegram")


@pytest.fixture(scope="session")
def redis_url() -> str:
    base = os.environ.get("TERTULIA_TEST_REDIS", "redis://127.0.0.1:6379")
    return f"{base.rstrip('/')}/{TEST_REDIS_DB}"


@pytest.fixture(scope="session")
def key_prefix() -> str:
    return f"tt-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def redis_client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.ping()
    yield client
    # Only our own keys, never a flush: other data may live in this database.
    for key in client.scan_iter(match=f"{key_prefix}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(scope="session")
def fake_ports() -> dict[str, int]:
    return {name: free_port() for name in FAKE_NAMES}


@pytest.fixture(scope="session")
def tgi(fake_ports: dict[str, int]) -> Iterator[Any]:
    from fakes.tgi_server import FakeTGI

    server = FakeTGI()
    server.start(fake_ports["tgi"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tgi_second(fake_ports: dict[str, int]) -> Iterator[Any]:
    """A second model endpoint (the `openai` port) for /model switching tests."""
    from fakes.tgi_server import FakeTGI

    server = FakeTGI()
    server.start(fake_ports["openai"])
    yield server
    server.stop()


def platform_env(fake_ports: dict[str, int]) -> dict[str, str]:
    env: dict[str, str] = {}
    for platform in PLATFORMS:
        try:
            module = importlib.import_module(f"fakes.{platform}_env")
        except ModuleNotFoundError:
            continue
        env.update(module.worker_env(fake_ports))
    return env


@pytest.fixture(scope="session")
def stack_env(redis_url: str, key_prefix: str, fake_ports: dict[str, int]) -> dict[str, str]:
    env = {
        "TERTULIA_REDIS_URL": redis_url,
        "TERTULIA_KEY_PREFIX": key_prefix,
        "TERTULIA_QUEUE": f"{key_prefix}-jobs",
        "TERTULIA_TGI_URL": f"http://127.0.0.1:{fake_ports['tgi']}",
        "TERTULIA_MODEL": "tgi",
        # The second endpoint, reachable through the registry as `openai-test`.
        "TERTULIA_TEST_OPENAI_URL": f"http://127.0.0.1:{fake_ports['openai']}/v1",
        "TERTULIA_MODELS_FILE": str(REPO / "tests" / "data" / "models.toml"),
        "TERTULIA_MODEL_RETRIES": "3",
        "TERTULIA_RETRY_BACKOFF_BASE": "0.05",
        "TERTULIA_RETRY_BACKOFF_MAX": "0.2",
        "TERTULIA_TOKEN_TIMEOUT": "1.5",
        "TERTULIA_REQUEST_TIMEOUT": "5",
        "TERTULIA_INFO_TTL_SECONDS": "0",  # tests change the fake's limits between jobs
        "TERTULIA_MAX_INPUT_CHARS": "4000",
        "TERTULIA_MAX_ATTACHMENT_BYTES": "200000",
        "TERTULIA_WORKER_CONCURRENCY": "32",
        "TERTULIA_CONSOLE_UPDATE_INTERVAL": "0.02",
    }
    env.update(platform_env(fake_ports))
    return env


@pytest.fixture(scope="session")
def settings(stack_env: dict[str, str]) -> Any:
    from core.settings import Settings

    with environ(stack_env):
        return Settings()


@pytest.fixture(scope="session")
def services(settings: Any, redis_client: redis.Redis, stack_env: dict[str, str]) -> Any:
    from tertulia.bootstrap import build_services

    with environ(stack_env):
        return build_services(settings)


@pytest.fixture(scope="session")
def worker(stack_env: dict[str, str], tgi: Any, redis_client: redis.Redis, tmp_path_factory: Any) -> Iterator[Any]:
    """A real Celery worker in a child process, consuming the session's queue."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with running_worker(env=stack_env, log_path=log_path) as handle:
        yield handle
