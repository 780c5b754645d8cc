"""Child processes the tests run for real: a Celery worker through `tertulia worker`, the
same command production uses."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fakes.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """``env`` in os.environ for the block (the registry file expands ${VARS} from it)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class WorkerHandle:
    def __init__(self, *, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_worker(*, env: dict[str, str], log_path: Path, ready_timeout: float = 90) -> Iterator[WorkerHandle]:
    """A real worker in a child process with ``env``, until the block ends."""
    name = f"test-{uuid.uuid4().hex[:6]}@%h"
    args = ["-n", name, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tertulia.cli", "worker", *args],
            cwd=REPO, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    handle = WorkerHandle(proc=proc, log_path=log_path)
    try:
        wait_until(lambda: b"ready." in log_path.read_bytes() or proc.poll() is not None, timeout=ready_timeout)
        if proc.poll() is not None:
            raise RuntimeError(f"worker died:\n{handle.log()[-4000:]}")
        yield handle
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
