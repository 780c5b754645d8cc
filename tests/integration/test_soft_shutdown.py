"""A stop during a long answer (issue 11): SIGTERM, as `tertulia up`'s teardown and
`docker compose stop` send it, gives running jobs the soft-shutdown time, then Celery's
cold shutdown requeues them and the worker hands back their leases; after a restart the
answer completes in the same message. The test drives `tertulia worker` directly with
SIGTERM and up's 20 s grace (running `tertulia up` itself would start the CPU model)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.fault_support import Stack, fake_model, finals, first_text, posts, stack_env_for, words

pytestmark = pytest.mark.integration

UP_GRACE = 20.0  # tertulia/up.py: the worker's SIGTERM-to-SIGKILL grace


def test_a_stop_during_a_35s_answer_requeues_it_and_a_restart_completes_it(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    with fake_model(between_tokens=0.2) as tgi:
        # A lease far longer than the test: only the stop's requeue can bring the job back in time.
        env = stack_env_for(stack_env, tgi=tgi, TERTULIA_SOFT_SHUTDOWN_SECONDS="3", TERTULIA_LEASE_SECONDS="300")
        stack = Stack(env)
        chat = stack.transcript(reply_timeout=90)
        answer = words(175)  # 175 tokens 0.2 s apart: a 35 s answer (the test model's cap is 200)
        tgi.script(answer, answer)
        with stack.worker(tmp_path / "first.log") as first:
            job_id = chat.submit("/essay The sea")
            first_text(chat, job_id)
            time.sleep(2)
            stop = time.monotonic()
            first.proc.send_signal(signal.SIGTERM)
            try:
                code = first.proc.wait(UP_GRACE)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the worker outlived the grace:\n{first.log()[-3000:]}")
            print(f"\nworker stopped {time.monotonic() - stop:.1f}s after SIGTERM (exit code {code})")
            assert "Soft Shutdown" in first.log()
            assert not any(e["job"] == job_id and e["op"] == "close" for e in chat.events())  # cut mid-answer
        with stack.worker(tmp_path / "second.log") as second:
            restarted = time.monotonic()
            final = chat.follow(job_id)
            print(f"answer completed {time.monotonic() - restarted:.1f}s after the restart")
            assert final == answer, second.log()[-3000:]
        refs = posts(chat, job_id)
        assert len(refs) == 1 and list(finals(chat, job_id)) == refs  # the same message, finished


def test_a_plain_celery_worker_still_finishes_running_jobs_on_a_warm_shutdown(
    tmp_path: Path, stack_env: dict[str, str]
) -> None:
    """`celery worker` without REMAP_SIGTERM: SIGTERM stays Celery's warm shutdown, and
    worker/pool.py still waits for the running job (only a cold shutdown leaves it)."""
    import os
    import sys

    from fakes.waiting import wait_until
    from tests.support.processes import REPO

    with fake_model(between_tokens=0.05) as tgi:
        stack = Stack(stack_env_for(stack_env, tgi=tgi))
        chat = stack.transcript()
        answer = words(60)  # 3 s
        tgi.script(answer)
        log_path = tmp_path / "celery.log"
        env = {k: v for k, v in {**os.environ, **stack.env}.items() if k != "REMAP_SIGTERM"}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tertulia.worker_app", "worker", "-Q", stack.settings.queue,
                 "-c", "4", "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_until(lambda: b"ready." in log_path.read_bytes(), timeout=90)
            job_id = chat.submit("/essay The sea")
            first_text(chat, job_id)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            assert any(e["job"] == job_id and e["op"] == "close" for e in chat.events()), log_path.read_text()
            assert list(finals(chat, job_id).values()) == [answer]
            # ... and acked before the connection closed: nothing went back to the queue.
            assert stack.services.redis.llen(f"{stack.settings.key_prefix}:celery:{stack.settings.queue}") == 0
        finally:
            if proc.poll() is None:
                proc.kill()
