"""Redis restarts under a worker with jobs in flight: the worker stays up and every
accepted message is answered (issue 11). A private redis-server, AOF on, is killed with
SIGKILL and started again on the same port and data directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes.waiting import wait_until
from tests.integration.fault_support import PrivateRedis, Stack, fake_model, first_text, stack_env_for, words

pytestmark = pytest.mark.integration


def test_a_worker_with_jobs_in_flight_survives_a_redis_restart(tmp_path: Path, stack_env: dict[str, str]) -> None:
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        with fake_model(between_tokens=0.1) as tgi:
            stack = Stack(stack_env_for(stack_env, tgi=tgi, redis_url=f"{server.url}/0"))
            with stack.worker(tmp_path / "worker.log") as worker:
                chats = [stack.transcript(user=f"user{i}") for i in range(3)]
                tgi.script(*[words(60)] * 6)  # three first tries, and the runs after the outage
                jobs = [chat.submit(f"/chat tell me a long story {i}") for i, chat in enumerate(chats)]
                for chat, job in zip(chats, jobs, strict=True):
                    first_text(chat, job)
                server.kill()
                time.sleep(3)
                server.start()
                back = time.monotonic()
                before = [len(chat.events()) for chat in chats]
                for chat, count in zip(chats, before, strict=True):
                    wait_until(lambda chat=chat, count=count: len(chat.events()) > count, timeout=10)  # moving again
                print(f"\njobs resumed {time.monotonic() - back:.1f}s after Redis returned", end="")
                answers = [chat.follow(job) for chat, job in zip(chats, jobs, strict=True)]
                print(f", finished after {time.monotonic() - back:.1f}s")
                assert answers == [words(60)] * 3
                assert worker.proc.poll() is None, worker.log()[-3000:]
                tgi.script("After the outage.")
                assert chats[0].say("/chat still there?") == "After the outage."
                assert worker.proc.poll() is None
                assert "Unrecoverable error" not in worker.log()
                for chat, job in zip(chats, jobs, strict=True):  # one exchange each, in the same message
                    scope = stack.services.jobs.load(job).scope
                    assert len(stack.services.context.history(scope)) == (4 if chat is chats[0] else 2)
    finally:
        server.stop()


def test_the_console_says_redis_is_unreachable_in_one_line(stack_env: dict[str, str]) -> None:
    from fakes.waiting import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "tertulia.cli", "console"],
        input="/translate fr Hello\n/chat hi\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, **stack_env, "TERTULIA_REDIS_URL": dead},
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout + result.stderr
    assert all(line.startswith(f"tertulia> Redis is unreachable at {dead} (") for line in lines)
    assert "Traceback" not in result.stdout + result.stderr
