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
