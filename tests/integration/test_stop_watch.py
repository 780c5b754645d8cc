"""The worker's one look at the stop flags (tertulia.control_store.PolledStops) against a
real Redis: a raised flag is seen by its own job's check only, and a forgotten job is no
longer looked at."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tertulia.control_store import PolledStops, RedisControlStore
from tertulia.redis_store import RedisKeys
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def keys(key_prefix: str) -> RedisKeys:
    return RedisKeys(f"{key_prefix}-stops-{uuid.uuid4().hex[:6]}")


def test_a_raised_flag_stops_its_own_job_only(redis_client: Any, keys: RedisKeys) -> None:
    stops = PolledStops(redis_client, keys, interval=0.02)
    store = RedisControlStore(redis_client, keys, ttl_seconds=60)
    asked, other = uuid.uuid4().hex, uuid.uuid4().hex
    asked_stop, other_stop = stops.watch(asked), stops.watch(other)
    assert not asked_stop() and not other_stop()

    store.request_stop(asked)
    wait_until(asked_stop, timeout=5)
    assert not other_stop()

    stops.forget(asked)
    assert not asked_stop()  # a job's next attempt starts with a clean look
    stops.forget(other)


def test_a_job_watched_twice_stays_watched_until_both_forget(redis_client: Any, keys: RedisKeys) -> None:
    stops = PolledStops(redis_client, keys, interval=0.02)
    store = RedisControlStore(redis_client, keys, ttl_seconds=60)
    job = uuid.uuid4().hex
    first = stops.watch(job)
    stops.watch(job)  # a redelivered attempt in the same process, while the first winds down
    stops.forget(job)
    store.request_stop(job)
    wait_until(first, timeout=5)
    stops.forget(job)

