"""A worker reads a job's record, refs, answer, stop flag, model choice and persona in one
round trip, and writes the answer's facts with the answer (issue 12)."""

from __future__ import annotations

from typing import Any

import redis

from core.control_ports import AnswerFacts
from core.jobs import Job
from core.messages import InboundMessage
from core.policy import persona_of
from core.scope import scope_key
from tertulia.control_store import RedisControlStore

_COUNTED = ("get", "exists", "evalsha", "exec", "set")


def _calls(client: redis.Redis) -> dict[str, int]:
    """Calls the server has run, by command (Lua's own calls included)."""
    stats = client.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in _COUNTED}


def _added(client: redis.Redis, before: dict[str, int]) -> dict[str, int]:
    return {name: calls - before[name] for name, calls in _calls(client).items() if calls != before[name]}


def _job(channel: str = "c") -> Job:
    message = InboundMessage(platform="console", workspace="w", channel=channel, user="u", text="/chat hi")
    return Job(kind="chat", message=message, scope=scope_key(message), args={"text": "hi"})


def test_load_reads_everything_the_run_asks_for_in_one_call(services: Any, redis_client: redis.Redis) -> None:
    jobs = services.jobs
    job = _job("reads-all")
    services.choices.set(job.scope, "tgi-second")
    services.personas.set(persona_of(job.message), "a pirate")
    jobs.save(job)
    jobs.save_refs(job.id, ["r1", "r2"])
    jobs.save_answer(job.id, "the answer")
    services.controls.request_stop(job.id)
    before = _calls(redis_client)
    loaded = jobs.load(job.id)
    assert loaded is not None and loaded.id == job.id
    # One Lua call: 6 GETs inside it (record, refs, answer, stop, choice, persona).
    assert _added(redis_client, before) == {"evalsha": 1, "get": 6}
    before = _calls(redis_client)
    assert jobs.load_refs(job.id) == ["r1", "r2"]
    assert jobs.load_answer(job.id) == "the answer"
    assert services.controls.stop_requested(job.id) is True
    assert services.choices.get(job.scope) == "tgi-second"
    assert services.personas.get(persona_of(job.message)) == "a pirate"
    assert _added(redis_client, before) == {}  # each served from what was read ahead
    # Served once: a second ask goes to Redis.
    assert services.choices.get(job.scope) == "tgi-second"
    assert _added(redis_client, before) == {"get": 1}


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
    services.choices.set(job.scope, "tgi")
    jobs.load(job.id)
    services.choices.clear(job.scope)  # this thread's own write drops the choice read ahead
    assert services.choices.get(job.scope) is None


def test_the_facts_are_written_in_the_answers_own_transaction(services: Any, redis_client: redis.Redis) -> None:
    controls = RedisControlStore(
        services.redis, services.keys, ttl_seconds=60, ahead=services.ahead, writes=services.writes
    )
    job = _job("facts")
    services.jobs.save(job)
    before = _calls(redis_client)
    controls.answered(job.id, AnswerFacts(model="tgi", command="chat", cut=True))
    assert _added(redis_client, before) == {}  # staged, not sent
    services.jobs.save_answer(job.id, "the answer")
    assert _added(redis_client, before) == {"exec": 1, "set": 2}  # one MULTI: the answer and its facts
    assert services.controls.facts(job.id) == AnswerFacts(model="tgi", command="chat", cut=True)
    assert services.jobs.load_answer(job.id) == "the answer"
