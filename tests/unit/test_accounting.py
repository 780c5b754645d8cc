"""What a job's attempts book: tokens on every attempt, the request and the freed slot once."""

from __future__ import annotations

from core.accounting import Accounting, Meter
from core.jobs import Job
from core.messages import InboundMessage
from core.policy_ports import UsageEntry
from core.ports import NullObserver
from tests.support.memory import NoPersonas, RecordingLedger, Slots


def test_a_retried_attempt_books_its_tokens_and_only_the_last_the_request() -> None:
    ledger, slots = RecordingLedger(), Slots()
    accounting = Accounting(usage=ledger, admission=slots, personas=NoPersonas())
    job = Job(kind="essay", scope="s", message=InboundMessage(platform="slack", workspace="T1", channel="C1",
                                                              user="U1", text="/essay x"))  # fmt: skip
    first = Meter(NullObserver())
    first.tokens(kind="essay", model="tgi", prompt_tokens=30, generated_tokens=4)
    accounting.settle(job, first, model_of=lambda _job: "tgi", final=False)
    assert not slots.released
    second = Meter(NullObserver())
    second.tokens(kind="essay", model="tgi", prompt_tokens=30, generated_tokens=9)
    second.tokens(kind="essay", model="tgi", prompt_tokens=5, generated_tokens=1)
    accounting.settle(job, second, model_of=lambda _job: "tgi", final=True)
    assert [(e.requests, e.input_tokens, e.output_tokens) for e in ledger.entries] == [(0, 30, 4), (1, 35, 10)]
    assert {(e.user, e.place, e.model) for e in ledger.entries} == {("slack:T1:U1", "slack:T1", "tgi")}
    assert slots.released == [("slack:T1:U1", job.id)]


def test_accounting_never_costs_the_answer() -> None:
    class Broken(RecordingLedger):
        def record(self, entry: UsageEntry) -> None:
            raise ConnectionError("redis is down")

    accounting = Accounting(usage=Broken(), admission=Slots(), personas=NoPersonas())
    job = Job(kind="chat", scope="s", message=InboundMessage(platform="console", workspace="local", channel="c",
                                                             user="me", text="hi"))  # fmt: skip
    accounting.settle(job, Meter(NullObserver()), model_of=lambda _job: "tgi", final=True)  # logs, doesn't raise
