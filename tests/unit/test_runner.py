"""The job runner against in-memory ports: what the user sees, and what the model was sent."""

from __future__ import annotations

import pytest

from core.errors import DeliveryError, ModelOverloaded
from core.jobs import Job
from core.messages import InboundMessage
from core.panel import Panel
from core.ports import TokenStream
from core.runner import JobRunner
from core.scope import scope_key
from tests.support.memory import (
    MemoryContext,
    MemoryJobs,
    RecordingResponder,
    ScriptedModel,
    memory_runner,
)


class Overloaded(ScriptedModel):
    def stream(self, request):  # type: ignore[no-untyped-def]
        def deltas():  # type: ignore[no-untyped-def]
            yield "par"
            raise ModelOverloaded("overloaded")

        return TokenStream(deltas())


def setup(model: ScriptedModel) -> tuple[JobRunner, MemoryJobs, MemoryContext, RecordingResponder]:
    jobs, context, responder = MemoryJobs(), MemoryContext(), RecordingResponder()
    return memory_runner(model, jobs=jobs, context=context, responder=responder), jobs, context, responder


def chat_job(jobs: MemoryJobs, text: str) -> Job:
    message = InboundMessage(platform="test", workspace="w", channel="c", user="u", text=text)
    job = Job(kind="chat", message=message, scope=scope_key(message), args={"text": text})
    jobs.save(job)
    return job


def test_chat_remembers_and_trims_oldest_first() -> None:
    model = ScriptedModel(["first answer", "second answer", "third answer"], max_input_tokens=400)
    runner, jobs, context, responder = setup(model)
    for text in ("alpha " * 120, "beta " * 120, "gamma " * 10):
        runner.run(chat_job(jobs, text.strip()).id, attempt=0)
    assert responder.transcript() == ["first answer", "second answer", "third answer"]
    last_prompt = [m.content for m in model.requests[-1].messages]  # type: ignore[attr-defined]
    assert last_prompt[-1].startswith("gamma")
    assert not any(p.startswith("alpha") for p in last_prompt)  # trimmed: the oldest exchange went first
    assert any(p.startswith("beta") for p in last_prompt)
    assert len(context.history("test:w:c:-")) == 6


def test_retryable_error_propagates_then_give_up_speaks_once() -> None:
    runner, jobs, context, responder = setup(Overloaded())
    job = chat_job(jobs, "hello")
    with pytest.raises(ModelOverloaded):
        runner.run(job.id, attempt=0)
    assert not responder.closed and context.history(job.scope) == []
    runner.give_up(job.id, attempts=4)
    assert responder.transcript() == [
        "Sorry, the language model is busy or unavailable right now and I couldn't answer after 4 tries. "
        "Please try again in a minute."
    ]
    assert responder.closed


class PlatformDown(DeliveryError):
    """A platform fault the delivery itself does not wait out (the task retries the job)."""

    retryable = True


class FinishFailsOnce(RecordingResponder):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def finish(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        if not self.failed:
            self.failed = True
            raise PlatformDown("the platform is down")
        super().finish(ref, text, controls=controls)


def test_a_failed_final_delivery_is_retried_without_asking_the_model_again() -> None:
    model = ScriptedModel(["the only answer", "a second, different answer"])
    jobs, context, responder = MemoryJobs(), MemoryContext(), FinishFailsOnce()
    runner = memory_runner(model, jobs=jobs, context=context, responder=responder)
    job = chat_job(jobs, "hello")
    with pytest.raises(PlatformDown):
        runner.run(job.id, attempt=0)
    runner.run(job.id, attempt=1)  # the task's retry
    assert len(model.requests) == 1
    assert responder.transcript() == ["the only answer"]
    assert [t.content for t in context.history(job.scope)] == ["hello", "the only answer"]
