"""Many jobs ending at once on the gevent pool (docs/decisions.md, "gevent is the worker's
default pool: acks wait for a broker connection"): every late ack reaches the Redis broker,
and the worker never takes a refused ack connection for a lost broker."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from fakes.waiting import wait_until
from tests.integration.fault_support import Stack, fake_model, stack_env_for

pytestmark = pytest.mark.integration

JOBS = 40  # four times kombu's pool of ten connections a channel
BROKEN_ACKS = ("Couldn't ack", "Connection to broker lost", "closed file", "call_soon_ack immediate exec failed")


def test_jobs_ending_together_on_greenlets_are_all_acked(tmp_path: Path, stack_env: dict[str, str]) -> None:
    with fake_model() as tgi:
        stack = Stack(stack_env_for(stack_env, tgi=tgi, TERTULIA_WORKER_CONCURRENCY="64"))
        broker = redis.Redis.from_url(stack.settings.effective_broker_url)
        unacked = stack.key("celery", "unacked")
        with stack.worker(tmp_path / "worker.log", TERTULIA_WORKER_POOL="gevent") as worker:
            tgi.hold_batch(JOBS)  # no stream starts before all have: the jobs end together
            tgi.script(*(f"answer {i}" for i in range(JOBS)))
            chats = [stack.transcript(user=f"user{i}") for i in range(JOBS)]  # no job waits for another
            jobs = [(chat, chat.submit(f"/chat question {i}")) for i, chat in enumerate(chats)]
            answers = sorted(chat.follow(job_id) for chat, job_id in jobs)
            assert answers == sorted(f"answer {i}" for i in range(JOBS))

            wait_until(lambda: broker.hlen(unacked) == 0, timeout=30)  # each job's message acked
            log = worker.log()
            for sign in BROKEN_ACKS:
                assert sign not in log, log[-4000:]
        assert len(tgi.generation_requests()) == JOBS  # nothing was redelivered and run again
