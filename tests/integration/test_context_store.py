"""A conversation's memory is bounded in Redis itself: each recorded exchange trims the
list to the newest ``context_max_turns``, whole exchanges, whatever reads it later."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.ports import ChatTurn
from tertulia.context_store import RedisContextStore
from tertulia.redis_store import RedisKeys

pytestmark = pytest.mark.integration


def test_the_history_list_is_trimmed_in_redis_at_record_time(redis_client: Any, key_prefix: str) -> None:
    keys = RedisKeys(key_prefix)
    store = RedisContextStore(redis_client, keys, ttl_seconds=600, max_turns=6)
    scope = f"test:trim:{uuid.uuid4().hex}"
    for n in range(10):
        assert store.record_exchange(scope, job_id=f"{scope}-{n}", user=f"question {n}", assistant=f"answer {n}")
    assert redis_client.llen(keys.history(scope)) == 6  # in Redis, not only in what history() returns
    assert store.history(scope) == [
        ChatTurn(role=role, content=f"{word} {n}") for n in (7, 8, 9) for role, word in
        (("user", "question"), ("assistant", "answer"))
    ]
    assert 0 < redis_client.ttl(keys.history(scope)) <= 600


def test_an_odd_limit_still_keeps_whole_exchanges(redis_client: Any, key_prefix: str) -> None:
    keys = RedisKeys(key_prefix)
    store = RedisContextStore(redis_client, keys, ttl_seconds=600, max_turns=3)
    scope = f"test:trim:{uuid.uuid4().hex}"
    for n in range(4):
        store.record_exchange(scope, job_id=f"{scope}-{n}", user=f"q{n}", assistant=f"a{n}")
    assert [t.content for t in store.history(scope)] == ["q2", "a2", "q3", "a3"]
    assert store.history(scope)[0].role == "user"


def test_the_default_limit_comes_from_the_settings(services: Any) -> None:
    scope = f"test:trim:{uuid.uuid4().hex}"
    limit = services.settings.context_max_turns
    for n in range(limit):  # twice the limit in turns
        services.context.record_exchange(scope, job_id=f"{scope}-{n}", user=f"q{n}", assistant=f"a{n}")
    assert services.redis.llen(services.keys.history(scope)) == limit
