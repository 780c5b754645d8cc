"""The job runner: everything a worker does for one job, behind ports.

The Celery task is a thin shell around ``JobRunner.run``: it retries on the retryable
``TertuliaError``s this raises, and calls ``give_up`` when retries run out. What to ask the
model is the command's recipe (core/table.py); the runner picks the model, runs the recipe,
and lands the answer.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from core import catalogue
from core.accounting import Accounting, Meter
from core.attachments import DEFAULT_MAX_IMAGE_BYTES
from core.control_ports import ControlStore, StopWatch
from core.controls import JobControls
from core.delivery import StreamingReply
from core.errors import InputError, ModelRejected, ModelStalled, TertuliaError
from core.jobs import Job
from core.models import Registry
from core.panel import GenerationStopped, stopped_text
from core.ports import (
    ContextStore,
    CutStore,
    JobLogging,
    JobObserver,
    JobStore,
    ModelChoiceStore,
    ModelDirectory,
    NullObserver,
    PlatformDelivery,
    RateBudget,
)
from core.table import CONTINUE, find_spec
from core.work import JobWork, ReadLimits

log = logging.getLogger("tertulia.runner")


class JobRunner:
    def __init__(
        self,
        *,
        jobs: JobStore,
        context: ContextStore,
        choices: ModelChoiceStore,
        models: ModelDirectory,
        registry: Registry,
        platforms: Callable[[str], PlatformDelivery],
        budget: RateBudget,
        max_document_chars: int,
        max_attachment_bytes: int,
        max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
        observer: JobObserver | None = None,
        logging: JobLogging | None = None,
        accounting: Accounting | None = None,
        cuts: CutStore | None = None,
        controls: ControlStore | None = None,
        stops: StopWatch | None = None,
    ) -> None:
        self._jobs = jobs
        self._context = context
        self._choices = choices
        self._models = models
        self._registry = registry
        self._platforms = platforms
        self._budget = budget
        self._limits = ReadLimits(max_document_chars=max_document_chars, max_attachment_bytes=max_attachment_bytes,
                                  max_image_bytes=max_image_bytes)
        self._observer: JobObserver = observer or NullObserver()
        # Every line logged while a job runs carries its id, platform, scope, command, model.
        self._logging: JobLogging = logging or _no_log_context
        self._accounting = accounting
        self._cuts = cuts  # answers cut at their token limit, for /continue (core/cut.py)
        self._controls = controls  # None: answers show no Stop, Regenerate or feedback
        self._stops = stops  # the process's look at stop flags (None: a read per check)

    def run(self, job_id: str, *, attempt: int) -> None:
        """Runs a job to its final message. Raises retryable TertuliaErrors for the task.
        An answer that was computed but not delivered is kept: a retry delivers it again
        without asking the model twice."""
        job = self._jobs.load(job_id)
        if job is None:
            log.warning("job expired before it ran", extra={"job_id": job_id})
            return
        model = self.model_for(job)
        with self._logging(job_id=job.id, platform=job.message.platform, scope=job.scope, command=job.kind,
                           model=model):  # fmt: skip
            self._run(job, model, attempt=attempt)

    def _run(self, job: Job, model: str, *, attempt: int) -> None:
        controls = JobControls(self._controls, job, stops=self._stops)
        reply = self._reply(job, controls)
        if attempt == 0:
            self._observer.job_started(kind=job.kind, platform=job.message.platform)
            reply.start()
        outcome = "error"
        meter = Meter(self._observer)
        try:
            answer = self._jobs.load_answer(job.id)
            if answer is None:
                answer, outcome, cut = self._answer(job, model, reply, meter, controls)
                controls.answered(model=model, outcome=outcome, cut=cut)
                self._jobs.save_answer(job.id, answer)
            else:
                outcome = "ok"
            reply.finish(answer, panel=controls.final_panel(outcome))
        except TertuliaError as err:  # a model server or platform fault; the task retries these
            if err.retryable:
                outcome = "retry"
                if isinstance(err, ModelStalled):  # the user hears it now, not after every retry
                    reply.notice(catalogue.text("model_stalled_retrying", job.message.locale))
                raise
            log.warning("job failed: %s", type(err).__name__, extra={"job_id": job.id})
            reply.finish(catalogue.text("internal_error", job.message.locale))
        except Exception:
            log.exception("job failed", extra={"job_id": job.id, "platform": job.message.platform})
            reply.finish(catalogue.text("internal_error", job.message.locale))
        finally:
            controls.release()
            if self._accounting is not None:
                # The model this attempt ran on, read once at its start (a /continue's cut record is
                # gone once it ends).
                self._accounting.settle(job, meter, model_of=lambda _job: model, final=outcome != "retry")
            if outcome != "retry":
                self._close(job, reply, outcome)

    @contextmanager
    def logged(self, job_id: str) -> Iterator[None]:
        """The job's log fields around the task's own lines (a retry, giving up), which
        come after ``run`` has left its context: one look-up, on that path only."""
        job = self._jobs.load(job_id)
        if job is None:
            yield
            return
        with self._logging(job_id=job.id, platform=job.message.platform, scope=job.scope, command=job.kind,
                           model=self.model_for(job)):  # fmt: skip
            yield

    def give_up(self, job_id: str, *, attempts: int) -> None:
        """Retries ran out: one clear message, never silence."""
        job = self._jobs.load(job_id)
        if job is None:
            return
        with self._logging(job_id=job.id, platform=job.message.platform, scope=job.scope, command=job.kind):
            reply = self._reply(job)
            try:
                reply.finish(catalogue.text("model_busy", job.message.locale, attempts=attempts))
            finally:
                if self._accounting is not None:
                    self._accounting.settle(job, None, model_of=self.model_for, final=True)
                self._close(job, reply, "model_busy")

    def _answer(
        self, job: Job, model: str, reply: StreamingReply, observer: JobObserver, controls: JobControls
    ) -> tuple[str, str, bool]:
        """(the text to land, the outcome for metrics, whether the model was cut). Input
        and rejection errors become the user's answer; other faults propagate."""
        spec = find_spec(job.kind)
        if spec is None or spec.recipe is None:
            raise ValueError(f"job {job.id} names no runnable command: {job.kind!r}")
        if controls.stopped_before_start():
            return stopped_text("", job.message.locale), "stopped", False
        work = JobWork(
            job=job,
            spec=spec,
            model=model,
            client=self._models.client(model),
            preset=self._registry.get(model),
            reply=reply,
            platform=self._platforms(job.message.platform),
            context=self._context,
            models=self._models,
            limits=self._limits,
            observer=observer,
            persona=self._accounting.persona(job) if self._accounting is not None else None,
            vision_models=self._registry.vision_models(),
            cuts=self._cuts,
            should_stop=controls.should_stop(),
        )
        try:
            answer = work.finish_cut(spec.recipe.answer(work))
            return answer, "ok", work.cut
        except GenerationStopped as stopped:  # the asker pressed Stop: the text so far stays
            return stopped_text(stopped.text, job.message.locale), "stopped", False
        except InputError as err:
            return catalogue.text(err.key, job.message.locale, **err.params), "input_error", False
        except ModelRejected as err:
            reason = chat_safe_reason(err)
            return catalogue.text("model_rejected", job.message.locale, reason=reason), "rejected", False

    def model_for(self, job: Job) -> str:
        """The scope's chosen model if the registry still has it, else the command's default.
        /continue: the model that wrote the cut answer, which goes on with it."""
        if job.kind == CONTINUE and self._cuts is not None:
            cut = self._cuts.last(job.scope)
            if cut is not None and cut.model in self._models.names():
                return cut.model
        chosen = self._choices.get(job.scope)
        if chosen and chosen in self._models.names():
            return chosen
        return self._models.default_for(job.kind)

    def _reply(self, job: Job, controls: JobControls | None = None) -> StreamingReply:
        responder = self._platforms(job.message.platform).responder(job)
        return StreamingReply(
            responder=responder,
            budget=self._budget,
            budget_key=f"{job.message.platform}:{responder.destination}",
            refs=self._jobs.load_refs(job.id),
            on_refs=lambda refs: self._jobs.save_refs(job.id, refs),
            streaming_panel=controls.streaming_panel() if controls is not None else None,
        )

    def _close(self, job: Job, reply: StreamingReply, outcome: str) -> None:
        platform = job.message.platform
        try:
            reply.close()
        finally:
            self._observer.job_finished(kind=job.kind, platform=platform, outcome=outcome)
            for seconds in reply.rate_limit_waits:
                self._observer.rate_limited(platform=platform, seconds=seconds)
            self._observer.delivered(platform=platform, seconds=max(time.time() - job.created_at, 0.0))


@contextmanager
def _no_log_context(**_fields: str | None) -> Iterator[None]:
    yield


def chat_safe_reason(err: Exception) -> str:
    """The server's first line of explanation, without URLs (hosts and any credentials in
    them stay out of chat), short."""
    first = str(err).splitlines()[0] if str(err) else ""
    return re.sub(r"\w+://\S+", "<server>", first)[:200].strip() or "rejected"
