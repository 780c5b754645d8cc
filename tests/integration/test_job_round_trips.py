"""A console job's round trips on the worker's side, counted with MONITOR on the test's Redis
(issue 12): the claim reads the job, its refs, answer, stop flag, model choice and persona;
the first post carries the job's refs; the answer's facts go with the answer; the usage and the
freed slot go with the lease's finish; a quiet console channel's first rate lease is the
process's own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from core.jobs import Job
from core.messages import InboundMessage
from core.scope import scope_key
from tertulia.bootstrap import build_router, build_runner, build_services
from tertulia.leases import RedisLeases
from tests.integration.policy_support import policy_services, queued
from tests.support.processes import environ


def connections_of(client: redis.Redis) -> Callable[[], set[str]]:
    """The ``host:port`` of each connection ``client``'s pool has opened, as MONITOR names them."""

    def addresses() -> set[str]:
        pool: Any = client.connection_pool
        opened = [*pool._get_free_connections(), *pool._get_in_use_connections()]
        return {"{}:{}".format(*conn._sock.getsockname()[:2]) for conn in opened if conn._sock is not None}

    return addresses


@contextmanager
def worker_round_trips(url: str, prefix: str, *, own: Callable[[], set[str]] | None = None) -> Iterator[list[str]]:
    """Each round trip a client sent on the test's keys, as its first command's name and key
    (a MULTI ... EXEC block is one; commands inside Lua are none). The console's event
    writes and the process's stop-flag poll are left out: they are shared by every job (a
    post's own write counts: it carries the job's refs).
    With ``own``, only the round trips of those connections count: an earlier test's
    background threads on the session's key prefix are not this job's."""
    trips: list[str] = []
    senders: list[str] = []  # the connection of each trip
    events = f"{prefix}:console:"  # the console's event logs (not its rate budget, rate:console:...)
    client: redis.Redis = redis.Redis.from_url(url)
    ready = threading.Event()
    marker = f"trips-end-{uuid.uuid4().hex}"  # the monitor reads up to this, so it misses nothing before

    def watch() -> None:
        open_blocks: dict[str, list[str]] = {}
        # client -> index in trips of its latest EVALSHA (None: that one was not counted)
        last_evalsha: dict[str, int | None] = {}
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if marker in str(command.get("command", "")):
                    return
                if command.get("client_type") == "lua":
                    continue
                addr = f"{command.get('client_address')}:{command.get('client_port')}"
                text = str(command.get("command", ""))
                name = text.split(" ", 1)[0].upper()
                if name == "SCRIPT" and text.upper().startswith("SCRIPT LOAD") and addr in last_evalsha:
                    # redis-py answered NOSCRIPT with SCRIPT LOAD and sends the EVALSHA again: a fresh
                    # server's one-time script load, not a round trip of the job's.
                    refused = last_evalsha.pop(addr)
                    if refused is not None:
                        senders.pop(refused)
                        trips.pop(refused)
                elif name == "MULTI":
                    open_blocks[addr] = []
                elif addr in open_blocks and name not in ("EXEC", "DISCARD"):
                    open_blocks[addr].append(text)
                elif addr in open_blocks:
                    block = open_blocks.pop(addr)
                    if any(prefix in c for c in block) and not all(events in c for c in block):
                        trips.append("MULTI " + " | ".join(c.split(" ", 1)[0] for c in block))
                        senders.append(addr)
                elif prefix in text and (events not in text or ":refs" in text) and name != "MGET":
                    if name == "EVALSHA":
                        last_evalsha[addr] = len(trips)
                    trips.append(text[:200] if events not in text else f"{name} (a console post and its job's refs)")
                    senders.append(addr)
                elif name == "EVALSHA":  # not counted (shared console events): nor is its script load
                    last_evalsha[addr] = None

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield trips
    finally:
        redis.Redis.from_url(url).echo(marker)
        thread.join(10)
        if own is not None:
            mine = own()
            trips[:] = [trip for trip, sender in zip(trips, senders, strict=True) if sender in mine]


def test_a_console_jobs_worker_side_costs_four_round_trips(
    settings: Any, stack_env: dict[str, str], tgi: Any, redis_url: str, key_prefix: str
) -> None:
    # A console lease longer than any job: on a loaded machine a job slower than the default
    # 2.5 s would rightly ask Redis for its next lease, which is not what this test counts.
    with environ(stack_env):
        services = build_services(settings.model_copy(update={"console_rate_lease_seconds": 600.0}))
    tgi.reset()
    tgi.script("Bonjour, le monde.")
    message = InboundMessage(
        platform="console", workspace="local", channel=f"trips-{uuid.uuid4().hex[:8]}", user="U0TRIPS",
        text="/translate fr hello world", addressed=True,
    )  # fmt: skip
    job = Job(kind="translate", message=message, scope=scope_key(message),
              args={"language": "fr", "text": "hello world"})  # fmt: skip
    services.jobs.save(job)
    services.jobs.admit(job)
    leases = RedisLeases(
        services.redis, key_prefix, lease_seconds=30, job_ttl_seconds=600, max_per_conversation=10,
        max_per_user=10, keys=services.keys, ahead=services.ahead, writes=services.writes,
    )  # fmt: skip
    runner = build_runner(services)
    with worker_round_trips(redis_url, key_prefix, own=connections_of(services.redis)) as trips:
        assert leases.claim(job.id) == "run"
        runner.run(job.id, attempt=0)
        leases.finished(job.id)
    assert services.jobs.load_answer(job.id) == "Bonjour, le monde."
    assert services.redis.exists(f"{key_prefix}:job:{job.id}:done")
    # Before issue 12's round 3 there were thirteen: claim, load, model choice, stop flag,
    # persona, rate budget, post, refs, facts, answer, usage, slot release, finish; before
    # round 6 five (the post and its refs were two).
    assert len(trips) == 4, "\n".join(trips)
    claim, post, answer, finish = trips
    assert claim.startswith("EVALSHA") and not any(":rate:" in trip for trip in trips)
    assert post == "EVALSHA (a console post and its job's refs)"  # the first text, and the refs naming it
    assert answer == "MULTI SET | SET"  # the facts and the answer
    assert finish == "MULTI EVAL | ZREM | EVAL"  # the usage, the freed slot, the lease's finish


def test_the_router_saves_and_admits_a_job_in_one_round_trip(
    settings: Any, stack_env: dict[str, str], tmp_path: Path, redis_url: str
) -> None:
    """Under a policy with no model rules the scope's model choice is not read, and the job's
    record, its reads list, its place in line and (once admitted) the user's newest job go in
    one MULTI: two round trips with Celery's push (five before issue 12's round 3, three
    before round 6)."""
    services = policy_services(settings, stack_env, tmp_path / "policy.toml", "", own_queue=True)
    router = build_router(services)
    message = InboundMessage(
        platform="console", workspace="local", channel=f"trips-{uuid.uuid4().hex[:8]}", user="U0ROUTE",
        text="/translate fr hello world", addressed=True,
    )  # fmt: skip
    assert router.handle(message).job is not None  # the producer's first publish declares its queue
    with worker_round_trips(redis_url, services.keys.prefix) as trips:  # Celery's push has its own client
        outcome = router.handle(message)
    assert outcome.job is not None
    assert len(trips) == 2, "\n".join(trips)
    save, push = trips
    assert save == "MULTI SET | RPUSH | EXPIRE | EVAL"
    assert push.startswith("LPUSH")
    assert services.controls.latest(scope=outcome.job.scope, user="U0ROUTE") == outcome.job.id
    assert queued(services) == 2
