"""A worker SIGKILLed mid-answer (issue 11): the job's lease lapses, a live worker sends it
again, and the answer completes in the same message, with one history entry, and the
conversation goes on. On the Redis broker (the default) and on RabbitMQ."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from fakes.waiting import wait_until
from tests.integration.fault_support import (
    Stack,
    fake_model,
    finals,
    first_text,
    posts,
    rabbitmq_url,
    sigkill,
    stack_env_for,
    words,
)

pytestmark = pytest.mark.integration


def kill_mid_answer_then_recover(tmp_path: Path, stack: Stack, tgi: Any) -> None:
    chat = stack.transcript(reply_timeout=30)  # the bound: resumed and finished within 30 s
    answer = words(80)
    tgi.script(answer, answer)  # the killed attempt, and the resumed one
    with stack.worker(tmp_path / "first.log") as first:
        job_id = chat.submit("/chat tell me a long story")
        first_text(chat, job_id)
        sigkill(first)
    before = len(chat.events())
    with stack.worker(tmp_path / "second.log") as second:
        alive = time.monotonic()
        wait_until(lambda: len(chat.events()) > before, timeout=30)
        resumed = time.monotonic() - alive
        final = chat.follow(job_id)
        recovered = time.monotonic() - alive
        lease = f"{stack.settings.lease_seconds:g} s"
        print(f"\nSIGKILLed job resumed {resumed:.1f}s, finished {recovered:.1f}s after a worker was up, lease {lease}")
        assert final == answer, second.log()[-4000:]
        assert recovered < 30

        refs = posts(chat, job_id)
        assert len(refs) == 1  # the resumed job edited the message the dead one had posted
        assert list(finals(chat, job_id)) == refs

        job = stack.services.jobs.load(job_id)
        history = stack.services.context.history(job.scope)
        assert [(t.role, t.content) for t in history] == [("user", "tell me a long story"), ("assistant", answer)]

        tgi.script("The next part.")
        assert chat.say("/chat and then?") == "The next part."  # the conversation is not locked
        assert [t.content for t in stack.services.context.history(job.scope)][2:] == ["and then?", "The next part."]

        # A late copy of the first message (the broker's redelivery) finds the job done.
        calls = len(tgi.generation_requests())
        events = len(chat.events())
        stack.services.queue().enqueue(job_id)
        wait_until(lambda: "job not run by this message: done" in second.log(), timeout=20)
        assert len(tgi.generation_requests()) == calls and len(chat.events()) == events


def test_sigkilled_worker_on_the_redis_broker(tmp_path: Path, stack_env: dict[str, str]) -> None:
    with fake_model(between_tokens=0.05) as tgi:
        kill_mid_answer_then_recover(tmp_path, Stack(stack_env_for(stack_env, tgi=tgi)), tgi)


def test_sigkilled_worker_on_rabbitmq(tmp_path: Path, stack_env: dict[str, str]) -> None:
    url = rabbitmq_url()
    if url is None:
        print("no RabbitMQ answers at 127.0.0.1:5672 (or TERTULIA_TEST_AMQP): skipped")
        pytest.skip("no RabbitMQ broker answers")
    with fake_model(between_tokens=0.05) as tgi:
        stack = Stack(stack_env_for(stack_env, tgi=tgi, TERTULIA_BROKER_URL=url))
        try:
            kill_mid_answer_then_recover(tmp_path, stack, tgi)
        finally:
            from kombu import Connection

            with Connection(url) as conn:
                conn.default_channel.queue_delete(stack.settings.queue)
