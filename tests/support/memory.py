"""In-memory implementations of the core's ports, for unit tests that need no server.
They implement the same Protocols as the Redis stores; nothing of ours is patched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.cut import CutAnswer
from core.errors import RetryAfter
from core.jobs import Job
from core.models import load_registry
from core.panel import Panel
from core.policy_ports import Admitted, Ticket, UsageEntry, UsageReport
from core.ports import ChatTurn
from core.runner import JobRunner


class MemoryKV:
    """The get/set slice of a Redis client (expiry ignored), for stores built on it."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.data.get(name)

    def set(self, name: str, value: str, ex: int | None = None) -> bool:
        self.data[name] = value
        return True


class MemoryJobs:
    def __init__(self, *, controls: MemoryControls | None = None) -> None:
        self.controls = controls  # where an admitted job with ``newest`` is recorded, as Redis does
        self.jobs: dict[str, Job] = {}
        self.refs: dict[str, list[str]] = {}
        self.answers: dict[str, str] = {}
        self.queued: list[str] = []

    def save(self, job: Job, *, admit: bool = False, newest: bool = False) -> None:
        self.jobs[job.id] = job
        if admit:
            self.admit(job)
            if newest and self.controls is not None:
                self.controls.remember_latest(scope=job.scope, user=job.message.user, job_id=job.id)

    def admit(self, job: Job) -> None:
        """No caps here: tests/integration prove the Redis line and caps."""

    def load(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def save_refs(self, job_id: str, refs: list[str]) -> None:
        self.refs[job_id] = list(refs)

    def load_refs(self, job_id: str) -> list[str]:
        return list(self.refs.get(job_id, []))

    def save_answer(self, job_id: str, text: str) -> None:
        self.answers[job_id] = text

    def load_answer(self, job_id: str) -> str | None:
        return self.answers.get(job_id)

    def enqueue(self, job_id: str) -> None:
        self.queued.append(job_id)


class MemoryContext:
    def __init__(self) -> None:
        self.turns: dict[str, list[ChatTurn]] = {}
        self.owners: dict[str, list[str]] = {}  # the job of each turn, in step with turns
        self.recorded: set[str] = set()

    def history(self, scope: str, *, before: str | None = None) -> list[ChatTurn]:
        turns = self.turns.get(scope, [])
        owners = self.owners.get(scope, [])
        if before is not None and before in owners:
            return list(turns[: owners.index(before)])
        return list(turns)

    def record_exchange(
        self, scope: str, *, job_id: str, user: str, assistant: str, replaces: str | None = None
    ) -> bool:
        if job_id in self.recorded:
            return False
        self.recorded.add(job_id)
        turns, owners = self.turns.setdefault(scope, []), self.owners.setdefault(scope, [])
        exchange = [ChatTurn(role="user", content=user), ChatTurn(role="assistant", content=assistant)]
        if replaces is not None and replaces in owners:
            at = owners.index(replaces)
            turns[at : at + 2] = exchange
            owners[at : at + 2] = [job_id, job_id]
        else:
            turns.extend(exchange)
            owners.extend([job_id, job_id])
        return True

    def clear(self, scope: str) -> None:
        self.turns.pop(scope, None)
        self.owners.pop(scope, None)

    def extend_answer(self, scope: str, *, answer: str, whole: str) -> bool:
        turns = self.turns.get(scope, [])
        if not turns or turns[-1] != ChatTurn(role="assistant", content=answer):
            return False
        turns[-1] = ChatTurn(role="assistant", content=whole)
        return True


class MemoryCuts:
    def __init__(self) -> None:
        self.cuts: dict[str, CutAnswer] = {}

    def remember(self, scope: str, cut: CutAnswer) -> None:
        self.cuts[scope] = CutAnswer.from_json(cut.to_json())  # through JSON, as Redis keeps it

    def last(self, scope: str) -> CutAnswer | None:
        return self.cuts.get(scope)

    def forget(self, scope: str, *, job_id: str) -> None:
        if scope in self.cuts and self.cuts[scope].job_id == job_id:
            del self.cuts[scope]


class MemoryChoices:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, scope: str) -> str | None:
        return self.values.get(scope)

    def set(self, scope: str, name: str) -> None:
        self.values[scope] = name

    def clear(self, scope: str) -> None:
        self.values.pop(scope, None)


class ManualBudget:
    """A budget whose slots the test hands out: ``free`` slots, then waits of ``wait``
    until the test (or the sleep it gave the code under test) calls ``grant``."""

    def __init__(self, *, free: int = 10**9, wait: float = 1.0) -> None:
        self.free = free
        self.wait = wait
        self.penalties: list[float] = []

    def try_acquire(self, key: str, interval: float) -> float:
        if self.free > 0:
            self.free -= 1
            return 0.0
        return self.wait

    def grant(self, slots: int = 1) -> None:
        self.free += slots

    def penalize(self, key: str, seconds: float) -> None:
        self.penalties.append(seconds)


class RecordingResponder:
    """A transcript of what a platform would have shown, message by message."""

    def __init__(self, *, max_chars: int = 4000, fail_with: list[Exception] | None = None) -> None:
        self.max_chars = max_chars
        self.update_interval = 0.0
        self.messages: dict[str, str] = {}
        self.order: list[str] = []
        self.panels: dict[str, Panel | None] = {}  # the controls each message shows
        self.calls: list[tuple[str, str]] = []
        self.closed = False
        self._fail_with = list(fail_with or [])

    @property
    def destination(self) -> str:
        return "test-channel"

    def _maybe_fail(self) -> None:
        if self._fail_with:
            raise self._fail_with.pop(0)

    def start(self) -> None:
        self.calls.append(("start", ""))

    def post(self, text: str, *, controls: Panel | None = None) -> str:
        self._maybe_fail()
        ref = f"m{len(self.order) + 1}"
        self.order.append(ref)
        self.messages[ref] = text
        self.calls.append(("post", text))
        self.panels[ref] = controls
        return ref

    def update(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        self._maybe_fail()
        self.messages[ref] = text
        self.panels[ref] = controls
        self.calls.append(("update", text))

    def finish(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        self._maybe_fail()
        self.messages[ref] = text
        self.panels[ref] = controls
        self.calls.append(("finish", text))

    def delete(self, ref: str) -> None:
        self._maybe_fail()
        self.order.remove(ref)
        del self.messages[ref]
        self.calls.append(("delete", ref))

    def close(self) -> None:
        self.closed = True

    def transcript(self) -> list[str]:
        return [self.messages[ref] for ref in self.order]


def rate_limited(seconds: float) -> RetryAfter:
    return RetryAfter(seconds)


class ScriptedModel:
    """A ModelClient that answers from a script and records every request."""

    name = "scripted"

    def __init__(self, replies: list[str] | None = None, *, max_input_tokens: int = 4096) -> None:
        from core.ports import ModelInfo

        self.replies = list(replies or [])
        self.requests: list[object] = []
        self._info = ModelInfo(max_input_tokens=max_input_tokens)

    def info(self):  # type: ignore[no-untyped-def]
        return self._info

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render(self, messages):  # type: ignore[no-untyped-def]
        return "\n".join(f"{m.role}: {m.content}" for m in messages)

    def stream(self, request):  # type: ignore[no-untyped-def]
        from core.ports import TokenStream

        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else "ok"
        return TokenStream(word + " " for word in reply.split(" "))

    def healthy(self) -> bool:
        return True


class MemoryPlatform:
    """A PlatformDelivery whose messages land in a RecordingResponder."""

    def __init__(self, responder: RecordingResponder, *, source: str = "") -> None:
        self.recorder = responder
        self.source = source

    def responder(self, job: Job) -> RecordingResponder:
        return self.recorder

    def fetch_file(self, attachment: object, *, max_bytes: int) -> bytes:
        raise AssertionError("no URL attachments in these tests")

    def read_source(self, job: Job) -> str:
        return self.source


class ListDirectory:
    """A ModelDirectory over ScriptedModels."""

    def __init__(self, models: dict[str, ScriptedModel]) -> None:
        self.models = models

    def names(self) -> list[str]:
        return list(self.models)

    def default_for(self, kind: str) -> str:
        return next(iter(self.models))

    def client(self, name: str) -> ScriptedModel:
        return self.models[name]

    def describe(self, name: str) -> str:
        return ""

    def is_hosted(self, name: str) -> bool:
        return False

    def reachability(self) -> dict[str, bool]:
        return dict.fromkeys(self.models, True)


class MemoryControls:
    """``core.control_ports.ControlStore`` in memory (tertulia/control_store.py is the Redis one)."""

    def __init__(self) -> None:
        from core.control_ports import AnswerFacts, FeedbackTotals, Vote

        self.stops: set[str] = set()
        self.done: set[str] = set()
        self.latest_jobs: dict[tuple[str, str], str] = {}
        self.answers: dict[str, AnswerFacts] = {}
        self.votes: dict[tuple[str, str], Vote] = {}
        self.totals: dict[tuple[str, str], FeedbackTotals] = {}  # (place, model)
        self.regenerated: set[str] = set()

    def request_stop(self, job_id: str) -> None:
        self.stops.add(job_id)

    def stop_requested(self, job_id: str) -> bool:
        return job_id in self.stops

    def finished(self, job_id: str) -> bool:
        return job_id in self.done or job_id in self.answers

    def claim_regenerate(self, job_id: str) -> bool:
        first = job_id not in self.regenerated
        self.regenerated.add(job_id)
        return first

    def release_regenerate(self, job_id: str) -> None:
        self.regenerated.discard(job_id)

    def remember_latest(self, *, scope: str, user: str, job_id: str) -> None:
        self.latest_jobs[(scope, user)] = job_id

    def latest(self, *, scope: str, user: str) -> str | None:
        return self.latest_jobs.get((scope, user))

    def answered(self, job_id: str, facts):  # type: ignore[no-untyped-def]
        self.answers[job_id] = facts

    def facts(self, job_id: str):  # type: ignore[no-untyped-def]
        return self.answers.get(job_id)

    def vote(self, record):  # type: ignore[no-untyped-def]
        from core.control_ports import FeedbackTotals

        old = self.votes.get((record.job_id, record.user))
        self.votes[(record.job_id, record.user)] = record.vote
        counts = self.totals.get((record.place, record.model), FeedbackTotals())
        up = counts.up + (record.vote == "up") - (old == "up")
        down = counts.down + (record.vote == "down") - (old == "down")
        self.totals[(record.place, record.model)] = FeedbackTotals(up=up, down=down)
        return old

    def feedback(self, *, place: str, at: float):  # type: ignore[no-untyped-def]
        return {model: totals for (where, model), totals in self.totals.items() if where == place}


class RecordingLedger:
    """A usage ledger that keeps what accounting records; reports are read from Redis in
    tests/integration/test_policy.py, never from here."""

    def __init__(self) -> None:
        self.entries: list[UsageEntry] = []

    def record(self, entry: UsageEntry) -> None:
        self.entries.append(entry)

    def report(self, *, user: str, place: str, at: float) -> UsageReport:
        raise AssertionError("accounting only records; /usage reads reports (tests/integration/test_policy.py)")



class Slots:
    """Admission that admits everything and keeps the slots released."""

    def __init__(self) -> None:
        self.released: list[tuple[str, str]] = []

    def admit(self, ticket: Ticket) -> Admitted:
        return Admitted()

    def release(self, user: str, job_id: str) -> None:
        self.released.append((user, job_id))


class NoPersonas:
    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, text: str) -> None:
        pass

    def clear(self, key: str) -> None:
        pass

REGISTRY = Path(__file__).resolve().parent.parent / "data" / "models.toml"


def memory_runner(
    model: Any,
    *,
    jobs: MemoryJobs,
    responder: RecordingResponder,
    context: MemoryContext | None = None,
    choices: Any = None,
    source: str = "",
    max_chars: int = 10_000,
    **ports: Any,
) -> JobRunner:
    """A JobRunner on the in-memory ports with ``model`` as the test registry's "tgi";
    ``ports`` are JobRunner's optional ones (controls, cuts, accounting...)."""
    return JobRunner(
        jobs=jobs,
        context=context if context is not None else MemoryContext(),
        choices=choices if choices is not None else MemoryChoices(),
        models=ListDirectory({"tgi": model}),
        registry=load_registry(REGISTRY, env={"TERTULIA_TGI_URL": "http://x"}),
        platforms=lambda name: MemoryPlatform(responder, source=source),
        budget=ManualBudget(),
        max_document_chars=max_chars,
        max_attachment_bytes=max_chars,
        **ports,
    )
