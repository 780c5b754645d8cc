"""Stop, Regenerate, votes and Continue in the core: the click codec, what a click does
(Router.click), the runner closing a stopped stream, and a regenerated turn's memory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from core import catalogue
from core.controls import Click
from core.jobs import Job
from core.messages import InboundMessage
from core.panel import CONTINUE, REGENERATE, STOP, decode, encode, final_panel, stopped_text
from core.ports import TokenStream
from core.router import Router
from core.runner import JobRunner
from core.scope import scope_key
from tests.support.memory import (
    MemoryChoices,
    MemoryContext,
    MemoryControls,
    MemoryJobs,
    RecordingResponder,
    ScriptedModel,
    memory_runner,
)


def message(user: str = "ana", text: str = "hello", locale: str = "en") -> InboundMessage:
    return InboundMessage(platform="test", workspace="w", channel="c", user=user, text=text, locale=locale)


class Votes:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def feedback(self, *, model: str, command: str, vote: str, replaced: str | None) -> None:
        self.seen.append((vote, replaced))


Stack = tuple[JobRunner, Router, MemoryJobs, MemoryContext, MemoryControls, RecordingResponder]


def stack(model: ScriptedModel, feedback: Votes | None = None) -> Stack:
    controls = MemoryControls()
    jobs, context, responder = MemoryJobs(controls=controls), MemoryContext(), RecordingResponder()
    choices = MemoryChoices()
    runner = memory_runner(model, jobs=jobs, context=context, choices=choices, responder=responder, controls=controls)
    router = Router(
        jobs=jobs, queue=jobs, context=context, choices=choices, model_names=lambda: ["tgi"], max_input_chars=4000,
        max_attachment_bytes=10_000, controls=controls, feedback=feedback,
    )  # fmt: skip
    return runner, router, jobs, context, controls, responder


def ask(router: Router, text: str, *, user: str = "ana") -> Job:
    outcome = router.handle(message(user, f"/chat {text}"))
    assert outcome.job is not None
    return outcome.job


def test_click_data_round_trips_and_fits_telegram() -> None:
    data = encode(STOP, "0123456789abcdef0123456789abcdef")
    assert decode(data) == (STOP, "0123456789abcdef0123456789abcdef")
    assert len(data.encode()) <= 64  # Telegram's callback_data limit
    assert decode("tt:nope:abc") is None and decode("other:stop:abc") is None and decode("tt:stop:") is None


def test_continue_is_offered_only_when_the_model_was_cut() -> None:
    assert CONTINUE not in final_panel("j", "en").kinds
    assert final_panel("j", "en", cut=True).kinds == (REGENERATE, "up", "down", CONTINUE)


class StoppedMidway(ScriptedModel):
    """Streams words; after the second one the asker presses Stop, then the stream goes on."""

    def __init__(self, controls: MemoryControls) -> None:
        super().__init__()
        self.controls = controls
        self.closed = False
        self.job_id = ""

    def stream(self, request: Any) -> TokenStream:
        self.requests.append(request)

        def deltas() -> Iterator[str]:
            try:
                for n in range(200):
                    if n == 2:
                        self.controls.request_stop(self.job_id)
                        time.sleep(0.3)  # past the runner's next look at the flag
                    yield f"w{n} "
            finally:
                self.closed = True

        return TokenStream(deltas())


def test_stop_closes_the_stream_and_lands_the_text_so_far_marked() -> None:
    controls_model = StoppedMidway(MemoryControls())
    runner, router, _jobs, context, controls, responder = stack(controls_model)
    controls_model.controls = controls
    job = ask(router, "write a lot")
    controls_model.job_id = job.id
    runner.run(job.id, attempt=0)
    assert controls_model.closed
    (text,) = responder.transcript()
    assert text.startswith("w0 w1 w2") and "w199" not in text
    assert text.endswith(catalogue.text("answer_stopped", "en"))
    assert responder.panels[responder.order[0]] == final_panel(job.id, "en")
    # Memory keeps the answer as far as it went, without the marker.
    assert context.history(job.scope)[-1].content.startswith("w0 w1 w2")
    assert catalogue.text("answer_stopped", "en") not in context.history(job.scope)[-1].content


def test_stop_before_the_job_runs_asks_no_model() -> None:
    model = ScriptedModel(["never"])
    runner, router, _jobs, _context, _controls, responder = stack(model)
    job = ask(router, "hi")
    assert router.handle(message(text="/stop")).reply == catalogue.text("control_stopping", "en")
    runner.run(job.id, attempt=0)
    assert not model.requests
    assert responder.transcript() == [stopped_text("", "en")]


def test_only_the_asker_stops_and_a_finished_or_expired_answer_says_so() -> None:
    runner, router, _jobs, _context, controls, _responder = stack(ScriptedModel(["done"]))
    job = ask(router, "hi")
    refused = router.click(Click(kind=STOP, job_id=job.id, who=message("bruno")))
    assert refused.refused and refused.text == catalogue.text("control_not_yours.stop", "en")
    assert not controls.stop_requested(job.id)
    runner.run(job.id, attempt=0)
    finished = router.click(Click(kind=STOP, job_id=job.id, who=message()))
    assert finished.text == catalogue.text("control_already_finished", "en")
    expired = router.click(Click(kind=STOP, job_id="f" * 32, who=message(locale="es")))
    assert expired.refused and expired.text == catalogue.text("control_expired", "es")
    assert router.handle(message(text="/stop")).reply == catalogue.text("nothing_to_stop", "en")


def test_regenerate_replaces_the_messages_and_the_remembered_exchange() -> None:
    model = ScriptedModel(["first", "second"])
    runner, router, jobs, context, _controls, responder = stack(model)
    job = ask(router, "hi")
    runner.run(job.id, attempt=0)
    outcome = router.click(Click(kind=REGENERATE, job_id=job.id, who=message()))
    again = outcome.job
    assert again is not None and again.replaces == job.id and jobs.load_refs(again.id) == jobs.load_refs(job.id)
    twice = router.click(Click(kind=REGENERATE, job_id=job.id, who=message()))
    assert twice.refused and twice.text == catalogue.text("control_already_regenerated", "en")
    runner.run(again.id, attempt=0)
    assert responder.transcript() == ["second"]  # the same message, edited
    assert [(t.role, t.content) for t in context.history(job.scope)] == [("user", "hi"), ("assistant", "second")]
    # The same prompt, without the answer it replaces; a new sample.
    first, second = model.requests  # type: ignore[misc]
    assert first.messages == second.messages
    assert "seed" in second.extra and "seed" not in first.extra  # the preset samples (temperature > 0)


def test_a_vote_is_one_per_user_and_a_change_replaces_it() -> None:
    votes = Votes()  # the composition root passes the Prometheus observer here
    runner, router, _jobs, _context, controls, _responder = stack(ScriptedModel(["x"]), feedback=votes)
    job = ask(router, "hi")
    early = router.click(Click(kind="up", job_id=job.id, who=message()))
    assert early.text == catalogue.text("control_still_running", "en")
    runner.run(job.id, attempt=0)
    for user, kind in (("ana", "up"), ("ana", "up"), ("ana", "down"), ("bruno", "up")):
        assert router.click(Click(kind=kind, job_id=job.id, who=message(user))).text == catalogue.text(
            "feedback_thanks", "en")
    (totals,) = controls.totals.values()
    assert (totals.up, totals.down) == (1, 1)
    assert votes.seen == [("up", None), ("down", "up"), ("up", None)]  # a repeated vote counts nothing


def test_continue_asks_for_the_rest_as_the_clicker_in_the_same_conversation() -> None:
    _runner, router, jobs, _context, _controls, _responder = stack(ScriptedModel(["x"]))
    job = ask(router, "hi")
    outcome = router.click(Click(kind=CONTINUE, job_id=job.id, who=message("bruno")))
    assert not outcome.refused
    continued = jobs.jobs[jobs.queued[-1]]
    assert continued.kind == CONTINUE and continued.message.user == "bruno" and continued.scope == job.scope
    assert continued.args == {"answer": job.id}  # the button goes on with its own answer only


def test_history_before_a_job_and_replacing_its_exchange() -> None:
    context = MemoryContext()
    scope = scope_key(message())
    context.record_exchange(scope, job_id="a", user="q1", assistant="a1")
    context.record_exchange(scope, job_id="b", user="q2", assistant="a2")
    assert [t.content for t in context.history(scope, before="b")] == ["q1", "a1"]
    context.record_exchange(scope, job_id="c", user="q2", assistant="a2 again", replaces="b")
    assert [t.content for t in context.history(scope)] == ["q1", "a1", "q2", "a2 again"]
