"""The cheap paths of a worker's cost per stream (issue 12): the console's final text and
first post need no wait, TGI's error events map without huggingface_hub's parsing, and the
pool follows how the process was started."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from bots.console.batch import EventBatcher
from bots.console.delivery import ConsoleResponder
from core.delivery import StreamingReply
from core.errors import ModelError, ModelOverloaded, ModelRejected, ModelStalled
from tests.support.memory import ManualBudget, RecordingResponder
from worker import green
from worker.llm.errors import event_error


class RecordingLog:
    def __init__(self) -> None:
        self.calls: list[list[tuple[str, dict[str, str]]]] = []

    def append(self, channel: str, event: Mapping[str, str]) -> None:
        self.append_many([(channel, event)])

    def append_many(self, events: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        self.calls.append([(c, dict(e)) for c, e in events])

    def read(self, channel: str, *, after: str, block_seconds: float) -> list[tuple[str, dict[str, str]]]:
        return []


class UnmeteredResponder(RecordingResponder):
    metered_finish = False


@pytest.mark.parametrize(("responder", "waits"), [(UnmeteredResponder(), 0), (RecordingResponder(), 1)])
def test_an_unmetered_final_text_replaces_the_last_update_at_once(responder: RecordingResponder, waits: int) -> None:
    budget = ManualBudget(free=1)  # the first update takes the only slot
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        budget.grant()

    reply = StreamingReply(responder=responder, budget=budget, budget_key="k", sleep=sleep)
    reply.feed("Hello")
    reply.finish("Hello there")
    assert responder.transcript() == ["Hello there"]
    assert len(slept) == waits


def test_the_console_posts_at_once() -> None:
    log = RecordingLog()
    batcher = EventBatcher(log, linger=60.0)  # a batch would not be written within the test
    responder = ConsoleResponder(events=batcher, session="s", job_id="j", update_interval=0.05)
    ref = responder.post("first")
    assert log.calls == [[("s", {"job": "j", "op": "post", "ref": ref, "text": "first"})]]
    assert responder.metered_finish is False


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"error": "Model is overloaded", "error_type": "overloaded"}, ModelOverloaded),
        ({"error": "Incomplete generation", "error_type": "incomplete_generation"}, ModelStalled),
        ({"error": "Input validation error", "error_type": "validation"}, ModelRejected),
        ({"error": "CUDA out of memory", "error_type": "generation"}, ModelRejected),
        ({"error": {"message": "Model is overloaded", "http_status_code": 422}}, ModelOverloaded),
        ({"error": "something else", "error_type": "new_kind"}, ModelRejected),
    ],
)
def test_tgi_error_events_map_to_the_core_errors(event: dict[str, object], expected: type[ModelError]) -> None:
    error = event_error(event, where="model 'tgi'")
    assert type(error) is expected
    assert str(error).startswith("model 'tgi': ")


@pytest.mark.parametrize(
    ("argv", "pool"),
    [
        (["console"], "gevent"),
        (["worker", "--help"], "gevent"),
        (["worker"], "threads"),
        (["worker"], ""),
        ([], "gevent"),
    ],
)
def test_only_a_worker_asking_for_gevent_patches(argv: list[str], pool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(green.POOL_VARIABLE, pool)
    assert green.patch_if_worker(argv) is False


def test_an_unpatched_process_keeps_the_threads_pool() -> None:
    assert not green.patched()
    assert green.pool_name() == green.THREADS_POOL
