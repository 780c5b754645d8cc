"""The cheap paths of a worker's cost per stream (issue 12): the console's final text and
first post need no wait, TGI's error events map without huggingface_hub's parsing, and the
pool follows how the process was started."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from bots.console.batch import EventBatcher
from bots.console.delivery import ConsoleResponder
from core.accounting import Accounting
from core.delivery import StreamingReply
from core.errors import ModelError, ModelOverloaded, ModelRejected, ModelStalled
from core.jobs import Job
from core.messages import InboundMessage
from core.scope import scope_key
from tests.support.memory import (
    ManualBudget,
    MemoryChoices,
    MemoryJobs,
    NoPersonas,
    RecordingLedger,
    RecordingResponder,
    ScriptedModel,
    Slots,
    memory_runner,
)
from worker import green
from worker.llm.errors import event_error
from worker.llm.tgi import sse_data


class RecordingLog:
    def __init__(self) -> None:
        self.calls: list[list[tuple[str, dict[str, str]]]] = []
        self.refs: list[dict[str, list[str]]] = []  # what each call stored with its events

    def append(self, channel: str, event: Mapping[str, str]) -> None:
        self.append_many([(channel, event)])

    def append_many(
        self, events: Sequence[tuple[str, Mapping[str, str]]], *, refs: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.calls.append([(c, dict(e)) for c, e in events])
        self.refs.append({job: list(pieces) for job, pieces in (refs or {}).items()})

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


def test_the_console_posts_at_once_without_waiting_for_other_channels() -> None:
    log = RecordingLog()
    batcher = EventBatcher(log, linger=60.0)  # a batch would not be written within the test
    batcher.emit("other", {"op": "update"}, durable=False)  # another channel's, pending
    responder = ConsoleResponder(events=batcher, session="s", job_id="j", update_interval=0.05)
    ref = responder.post("first")
    assert log.calls == [[("s", {"job": "j", "op": "post", "ref": ref, "text": "first"})]]
    assert responder.metered_finish is False


def test_a_post_comes_after_every_earlier_event_of_its_channel() -> None:
    log = RecordingLog()
    batcher = EventBatcher(log, linger=0.01)
    responder = ConsoleResponder(events=batcher, session="s", job_id="j", update_interval=0.05)
    responder.start()  # fire-and-forget, pending when the post comes
    ref = responder.post("first")
    assert log.calls == [
        [("s", {"job": "j", "op": "start", "ref": "", "text": ""})],
        [("s", {"job": "j", "op": "post", "ref": ref, "text": "first"})],
    ]


def test_a_console_post_stores_the_jobs_refs_in_its_own_write() -> None:
    log = RecordingLog()
    responder = ConsoleResponder(events=EventBatcher(log), session="s", job_id="j", update_interval=0.0)
    saved: list[list[str]] = []
    # A retry of a job whose first attempt left one piece: its second piece is new.
    reply = StreamingReply(responder=responder, budget=ManualBudget(free=10), budget_key="k", refs=["j:1"],
                           on_refs=saved.append)  # fmt: skip
    reply.feed("x" * (responder.max_chars + 10))
    [(channel, event)] = log.calls[-1]
    assert (channel, event["op"], event["ref"]) == ("s", "post", "j:2")
    assert log.refs[-1] == {"j": ["j:1", "j:2"]}  # one write: the piece and the refs naming it
    assert saved == [] and reply.refs == ["j:1", "j:2"]  # no second round trip for the refs


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
        (["worker"], " Threads "),
        ([], "gevent"),
        ([], ""),
    ],
)
def test_only_a_worker_asking_for_gevent_patches(argv: list[str], pool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(green.POOL_VARIABLE, pool)
    assert green.patch_if_worker(argv) is False


def test_gevent_is_the_default_pool_and_threads_the_opt_out() -> None:
    from core.settings import Settings

    assert green.wanted_pool({}) == green.wanted_pool({green.POOL_VARIABLE: ""}) == "gevent"
    assert green.wanted_pool({green.POOL_VARIABLE: "threads"}) == "threads"
    assert Settings.model_fields["worker_pool"].default == green.DEFAULT_POOL


def test_an_unpatched_process_keeps_the_threads_pool() -> None:
    assert not green.patched()
    assert green.pool_name() == green.THREADS_POOL


_POLL_PROBE = """
import os, select, socket
from worker import green
os.environ[green.POOL_VARIABLE] = "gevent"
assert green.patch_if_worker(["worker"])
import gevent
a, b = socket.socketpair()
def check(timeout):
    poller = select.poll()
    poller.register(a, select.POLLIN)
    return poller.poll(timeout)
# A zero-timeout check answers at once, without a turn of the hub (gevent's own poll takes one:
# every other greenlet runs first, and the check costs about 17 us instead of 1).
others = []
gevent.spawn(others.append, 1)
assert check(0) == [] and others == []
b.send(b"x")
assert check(0) == [(a.fileno(), select.POLLIN)]
a.recv(1)
# A poll that may wait goes through the hub: other greenlets run meanwhile.
ticks = []
gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(5)])
assert check(200) == [] and len(ticks) == 5 and others == [1]
print("ok")
"""


def test_a_patched_worker_polls_at_once_when_it_must_not_wait_and_on_the_hub_when_it_may() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _POLL_PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


class CountingChoices(MemoryChoices):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, scope: str) -> str | None:
        self.reads += 1
        return super().get(scope)


def test_a_job_reads_its_model_choice_once_and_books_to_that_model() -> None:
    jobs, choices, ledger, responder = MemoryJobs(), CountingChoices(), RecordingLedger(), RecordingResponder()
    runner = memory_runner(ScriptedModel(["an answer"]), jobs=jobs, choices=choices, responder=responder,
                           accounting=Accounting(usage=ledger, admission=Slots(), personas=NoPersonas()))
    message = InboundMessage(platform="test", workspace="w", channel="c", user="u", text="hello")
    job = Job(kind="chat", message=message, scope=scope_key(message), args={"text": "hello"})
    jobs.save(job)
    runner.run(job.id, attempt=0)
    assert responder.transcript() == ["an answer"]
    assert choices.reads == 1
    assert [e.model for e in ledger.entries] == ["tgi"]


def test_sse_data_reassembles_lines_split_across_chunks_and_skips_the_rest() -> None:
    stream = b': keep-alive\n\ndata:{"a": 1}\r\n\nevent: x\ndata: {"b"' + b": 2}\n\ndata:{}"
    chunks = [stream[i : i + 5] for i in range(0, len(stream), 5)]
    assert list(sse_data(iter(chunks))) == [b'{"a": 1}', b' {"b": 2}', b"{}"]
