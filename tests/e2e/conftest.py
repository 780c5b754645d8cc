"""The e2e stack: the real llama.cpp server with SmolLM2-135M, a real Celery worker, the
real registry (config/models.toml) and the real console command.

Its own worker (not the integration suite's `worker`, which is wired to the fake TGI):
a session-scoped fixture is built once per session, so sharing it would hand these tests
a worker that talks to the wrong server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_port
from tests.support.processes import WorkerHandle, running_worker

# Small answers keep the suite fast on two cores; the plumbing is what is under test.
MAX_NEW_TOKENS = "96"


def _require_local_model() -> None:
    from tertulia.local_llm import LocalModelMissing, check_server_installed, find_model_file

    try:
        check_server_installed()
        find_model_file()
    except LocalModelMissing as missing:
        # ./scripts/test runs ./scripts/setup first, which installs both: missing is a failure,
        # reported with what to do rather than obscurely.
        pytest.fail(f"{missing} (run ./scripts/setup)")


@dataclass
class LocalServer:
    url: str
    log_path: Path

    def completions(self) -> int:
        """How many chat completions the server has answered (from its access log)."""
        return self.log_path.read_text(errors="replace").count("POST /v1/chat/completions")


@pytest.fixture(scope="session")
def local_llm(tmp_path_factory: Any) -> Iterator[LocalServer]:
    _require_local_model()
    from tertulia.local_llm import LocalLLM

    server = LocalLLM(port=free_port())
    log_path = tmp_path_factory.mktemp("llama") / "llama-server.log"
    with open(log_path, "wb") as log:
        server.start(log=log)
        try:
            server.wait_ready(timeout=120)
            yield LocalServer(url=server.url, log_path=log_path)
        finally:
            server.stop()


@pytest.fixture(scope="session")
def e2e_env(redis_url: str, key_prefix: str, local_llm: LocalServer, redis_client: Any) -> Iterator[dict[str, str]]:
    prefix = f"{key_prefix}-e2e"
    yield {
        "TERTULIA_REDIS_URL": redis_url,
        "TERTULIA_KEY_PREFIX": prefix,
        "TERTULIA_QUEUE": f"{prefix}-jobs",
        "TERTULIA_MODELS_FILE": str(REPO / "config" / "models.toml"),
        "TERTULIA_MODEL": "smollm2-local",
        "TERTULIA_CODE_MODEL": "",
        "TERTULIA_LOCAL_LLM_URL": local_llm.url,
        "TERTULIA_LOCAL_MAX_NEW_TOKENS": MAX_NEW_TOKENS,
        # One CPU model serves requests one at a time: a job may wait for another's turn.
        "TERTULIA_REQUEST_TIMEOUT": "60",
        "TERTULIA_TOKEN_TIMEOUT": "60",
        "TERTULIA_MODEL_RETRIES": "2",
        "TERTULIA_WORKER_CONCURRENCY": "4",
        "TERTULIA_CONSOLE_UPDATE_INTERVAL": "0.05",
        "PYTHONUNBUFFERED": "1",
    }
    # Our keys only (these prefixes, also used by test_up_e2e), never a flush.
    for pattern in (f"{prefix}:*", f"{key_prefix}-up:*"):
        for key in redis_client.scan_iter(match=pattern, count=1000):
            redis_client.delete(key)


@pytest.fixture(scope="session")
def e2e_worker(e2e_env: dict[str, str], redis_client: Any, tmp_path_factory: Any) -> Iterator[WorkerHandle]:
    log_path = tmp_path_factory.mktemp("e2e-worker") / "worker.log"
    with running_worker(env=e2e_env, log_path=log_path) as handle:
        yield handle


@dataclass
class ConsoleRun:
    stdout: str
    stderr: str
    returncode: int
    seconds: float

    def replies(self) -> list[str]:
        """The bot's messages, in order (a message may span several lines)."""
        return [part.strip() for part in self.stdout.split("tertulia> ")[1:]]


def run_console(lines: list[str], *, env: dict[str, str], timeout: float = 150.0) -> ConsoleRun:
    """`tertulia console` with stdin piped: one reply per line, exit at EOF."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tertulia.cli", "console"],
        input="".join(f"{line}\n" for line in lines).encode(),
        capture_output=True, cwd=REPO, env={**os.environ, **env}, timeout=timeout,
    )  # fmt: skip
    return ConsoleRun(
        stdout=done.stdout.decode(errors="replace"),
        stderr=done.stderr.decode(errors="replace"),
        returncode=done.returncode,
        seconds=time.monotonic() - started,
    )
