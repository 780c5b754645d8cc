"""A whole job's log lines, captured from the real runner (its model client, a retry)
inside `job_logging`, as the worker's task wraps each job: every line carries the job's
fields, and the scope only hashed."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ModelOverloaded
from core.messages import InboundMessage
from core.router import Router
from core.settings import Settings
from fakes.waiting import wait_until
from tertulia.bootstrap import build_runner
from tertulia.logs import CONTEXT_FIELDS, configure_logging, scope_hash
from tests.integration.fault_support import Stack, fake_model, stack_env_for
from worker.celery_app import create_app
from worker.queue import CeleryJobQueue

pytestmark = pytest.mark.integration


@pytest.fixture
def captured(settings: Settings) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("DEBUG", settings=settings, stream=out)
    try:
        yield out
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_every_line_of_a_job_carries_the_jobs_fields(settings: Settings, services: Any, tgi: Any,
                                                     redis_client: Any, captured: io.StringIO) -> None:
    tgi.reset()
    idle = settings.model_copy(update={"queue": f"{settings.key_prefix}-logs-{uuid.uuid4().hex[:6]}"})
    router = Router(
        jobs=services.jobs, queue=CeleryJobQueue(create_app(idle), queue=idle.queue), context=services.context,
        choices=services.choices, model_names=services.registry.names, max_input_chars=idle.max_input_chars,
        max_attachment_bytes=idle.max_attachment_bytes,
    )  # fmt: skip
    channel = f"logs-{uuid.uuid4().hex[:8]}"
    outcome = router.handle(InboundMessage(platform="console", workspace="local", channel=channel, user="U0LOGS",
                                           text="/chat hello there", addressed=True))  # fmt: skip
    job = outcome.job
    assert job is not None
    model = services.registry.jobs.get(job.kind) or services.registry.default
    runner = build_runner(services)
    captured.truncate(0)
    captured.seek(0)

    tgi.set_features(info=False)  # the model client logs that it falls back to the registry's limits
    tgi.fail_next("http_429")  # the first attempt is retried, as the task would
    tgi.script("Hello from the model.")
    # The runner sets the fields itself (the composition root hands it tertulia.logs.job_logging).
    with pytest.raises(ModelOverloaded):
        runner.run(job.id, attempt=0)
    runner.run(job.id, attempt=1)
    logging.getLogger("worker.tasks").info("between jobs")

    records = [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    # redis-py's handshake line for a new pooled connection belongs to the process, not the
    # job: the console's batch writer thread, shared by every job, may open one meanwhile.
    records = [r for r in records if not (r["logger"] == "redis.connection" and r["level"] == "DEBUG")]
    *during, after = records
    assert len(during) >= 2, captured.getvalue()
    loggers = {r["logger"] for r in during}
    assert "worker.llm.tgi" in loggers, f"the model client's lines were not captured: {loggers}"
    for record in during:
        for field in ("job_id", "platform", "scope", "command", "model"):
            assert field in record, f"{field} missing from {record}"
        assert (record["job_id"], record["platform"], record["command"], record["model"]) == (
            job.id, "console", "chat", model)
        assert record["scope"] == scope_hash(job.scope)
    assert job.scope not in captured.getvalue() and "U0LOGS" not in captured.getvalue()
    assert not set(CONTEXT_FIELDS) & set(after) - {"platform"}
    tgi.reset()
    for key in redis_client.scan_iter(match=f"{settings.key_prefix}:celery:{idle.queue}*"):
        redis_client.delete(key)


def test_the_tasks_retry_and_give_up_lines_carry_the_jobs_fields(tmp_path: Path, stack_env: dict[str, str]) -> None:
    with fake_model() as model:
        env = stack_env_for(stack_env, tgi=model, TERTULIA_MODEL_RETRIES="1", TERTULIA_RETRY_BACKOFF_BASE="0.2",
                            TERTULIA_RETRY_BACKOFF_MAX="0.2")  # fmt: skip
        stack = Stack(env)
        chat = stack.transcript(user="U0RETRY")
        model.fail_next("http_429", times=2)  # the first try and its one retry: busy
        log_path = tmp_path / "worker.log"
        with stack.worker(log_path):
            job_id = chat.submit("/chat are you there?")
            wait_until(lambda: any(e["job"] == job_id and e["op"] == "close" for e in chat.events()), timeout=60)
        job = stack.services.jobs.load(job_id)
        assert job is not None
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    task_lines = [r for r in lines if r["msg"].startswith("busy or unreachable")]
    assert [r["msg"].split(";")[1].split()[0] for r in task_lines] == ["retrying", "giving"], task_lines
    for record in task_lines:
        assert (record["job_id"], record["platform"], record["command"]) == (job_id, "console", "chat")
        assert record["scope"] == scope_hash(job.scope) and record["model"]
