"""The lease scripts against a real Redis (tertulia/leases.py): who runs a job, who waits,
and that a lapsed lease is handed to exactly one reaper. No worker: the clock is Redis'."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis

from core.jobs import Job
from core.messages import InboundMessage
from core.scope import scope_key
from tertulia.leases import RedisLeases

pytestmark = pytest.mark.integration


def make(client: redis.Redis, prefix: str, sent: list[str], lease: float = 1.0) -> RedisLeases:
    return RedisLeases(
        client, prefix, lease_seconds=lease, job_ttl_seconds=600, max_per_conversation=5, max_per_user=50,
        enqueue=sent.append,
    )  # fmt: skip


def chat_job(text: str, channel: str = "c1") -> Job:
    message = InboundMessage(
        platform="console", workspace="w", channel=channel, user="u", user_name="u", text=text, addressed=True
    )
    return Job(kind="chat", message=message, scope=scope_key(message), args={"text": text})


@pytest.fixture
def prefix(key_prefix: str) -> str:
    return f"{key_prefix}:l{uuid.uuid4().hex[:6]}"


def test_only_the_head_of_a_conversation_runs_and_the_next_is_sent_when_it_ends(
    redis_client: redis.Redis, prefix: str
) -> None:
    sent: list[str] = []
    leases = make(redis_client, prefix, sent)
    first, second, other = chat_job("one"), chat_job("two"), chat_job("elsewhere", channel="c2")
    for job in (first, second, other):
        leases.admit(job)
    assert leases.claim(second.id) == "wait"
    assert leases.claim(other.id) == "run"  # another conversation is not held up
    assert leases.claim(first.id) == "run"
    assert make(redis_client, prefix, []).claim(first.id) == "busy"  # a second worker, same job
    leases.finished(first.id)
    assert sent == [second.id]  # the next turn goes back in line for a worker
    assert leases.claim(first.id) == "done"  # a late redelivery does nothing
    assert leases.claim(second.id) == "run"


def test_a_lapsed_lease_goes_to_exactly_one_reaper(redis_client: redis.Redis, prefix: str) -> None:
    dead = make(redis_client, prefix, [])
    job = chat_job("hello")
    dead.admit(job)
    assert dead.claim(job.id) == "run"  # ... and this worker never renews: it died
    time.sleep(1.2)
    sent_a: list[str] = []
    sent_b: list[str] = []
    reapers = [make(redis_client, prefix, sent_a), make(redis_client, prefix, sent_b)]
    for reaper in reapers:
        reaper.reap()
    assert sorted(sent_a + sent_b) == [job.id]
    assert reapers[0].claim(job.id) == "run"


def test_renewal_keeps_a_live_lease(redis_client: redis.Redis, prefix: str) -> None:
    sent: list[str] = []
    live = make(redis_client, prefix, [])
    job = chat_job("hello")
    live.admit(job)
    assert live.claim(job.id) == "run"
    for _ in range(4):
        time.sleep(0.4)
        live.renew()
        make(redis_client, prefix, sent).reap()
    assert sent == [] and live.owns(job.id)


def test_a_retry_that_never_arrives_is_reaped(redis_client: redis.Redis, prefix: str) -> None:
    sent: list[str] = []
    leases = make(redis_client, prefix, sent)
    job = chat_job("hello")
    leases.admit(job)
    assert leases.claim(job.id) == "run"
    leases.retry_later(job.id, 0.2)
    assert leases.claim(job.id) == "run"  # the retry's message claims it at once
    leases.retry_later(job.id, 0.2)
    time.sleep(1.5)  # ... but this time it was lost: past its due time plus a lease
    leases.reap()
    assert sent == [job.id]


def test_after_a_redis_outage_live_leases_are_renewed_before_anyone_reaps(tmp_path: Path) -> None:
    """Redis was down longer than a lease: every lease looks lapsed when it returns. A keeper
    that saw the outage waits a lease period before reaping, and live workers renew first."""
    from tertulia.leases import LeaseKeeper
    from tests.integration.fault_support import PrivateRedis

    server = PrivateRedis(tmp_path / "redis").start()
    try:
        client = redis.Redis(port=server.port, socket_timeout=1, socket_connect_timeout=1)
        sent: list[str] = []
        live = make(client, "t", [])
        other = make(redis.Redis(port=server.port, socket_timeout=1, socket_connect_timeout=1), "t", sent)
        job = chat_job("hello")
        live.admit(job)
        assert live.claim(job.id) == "run"
        keepers = [LeaseKeeper(live), LeaseKeeper(other)]
        server.kill()
        for keeper in keepers:
            keeper.tick()  # both see Redis gone
        time.sleep(1.5)  # longer than the lease
        server.start()
        keepers[1].tick()  # the other worker comes back first: it must not reap yet
        for _ in range(6):  # the live worker renews, as its keeper does every lease/5
            keepers[0].tick()
            time.sleep(0.2)
            keepers[1].tick()
        assert sent == [] and live.owns(job.id)
    finally:
        server.stop()
