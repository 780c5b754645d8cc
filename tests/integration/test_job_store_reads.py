"""A worker reads a job's record, refs and answer in one round trip (issue 12)."""

from __future__ import annotations

from typing import Any

import redis

from core.jobs import Job
from core.messages import InboundMessage
from core.scope import scope_key


def _calls(client: redis.Redis) -> tuple[int, int]:
    """(GETs, EXECs) the server has run."""
    stats = client.info("commandstats")
    return tuple(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("get", "exec"))  # type: ignore[return-value]


def _job() -> Job:
    message = InboundMessage(platform="console", workspace="w", channel="c", user="u", text="/chat hi")
    return Job(kind="chat", message=message, scope=scope_key(message), args={"text": "hi"})


def test_load_reads_refs_and_answer_with_the_record(services: Any, redis_client: redis.Redis) -> None:
    jobs = services.jobs
    job = _job()
    jobs.save(job)
    jobs.save_refs(job.id, ["r1", "r2"])
    jobs.save_answer(job.id, "the answer")
    gets, execs = _calls(redis_client)
    loaded = jobs.load(job.id)
    assert loaded is not None and loaded.id == job.id
    assert jobs.load_refs(job.id) == ["r1", "r2"]
    assert jobs.load_answer(job.id) == "the answer"
    # One MULTI/EXEC of three GETs, and no other read.
    assert _calls(redis_client) == (gets + 3, execs + 1)


def test_what_was_read_ahead_serves_once_and_a_save_drops_it(services: Any, redis_client: redis.Redis) -> None:
    jobs = services.jobs
    job = _job()
    jobs.save(job)
    jobs.load(job.id)
    jobs.save_refs(job.id, ["new"])  # this thread's own write: the refs read ahead are stale now
    assert jobs.load_refs(job.id) == ["new"]
    assert jobs.load_answer(job.id) is None
    jobs.save_answer(job.id, "later")
    assert jobs.load_answer(job.id) == "later"  # read again, not the empty answer read ahead
    other = _job()
    jobs.save(other)
    jobs.save_refs(other.id, ["o1"])
    jobs.load(job.id)
    assert jobs.load_refs(other.id) == ["o1"]  # another job's read-ahead is never served
