"""What a click on an answer's control does: Stop, Regenerate, 👍 / 👎, Continue.

Which controls an answer shows is core/panel.py; each platform draws them in its own terms
(a Slack Block Kit button, a Discord component, a Telegram inline keyboard) and turns a
click back into a ``Click`` for ``Router.click``, which calls ``answer_click`` here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from core import catalogue
from core.control_ports import AnswerFacts, ControlStore, FeedbackObserver, StopWatch, Vote, VoteRecord
from core.jobs import Job
from core.messages import InboundMessage
from core.panel import CONTINUE, DOWN, REGENERATE, STOP, UP, Panel, final_panel, streaming_panel
from core.policy import place_of, user_of
from core.table import CONTINUED_ARG, find_spec

log = logging.getLogger("tertulia.controls")


@dataclass(frozen=True, kw_only=True)
class Click:
    """Someone pressed a control. ``who`` is the clicker as a message from them (platform,
    workspace, channel, user, locale, roles); its text and address are not used."""

    kind: str
    job_id: str
    who: InboundMessage


@dataclass(frozen=True, kw_only=True)
class ClickOutcome:
    """``text``: what to tell the clicker alone (an ephemeral message, a toast); None: say
    nothing. ``refused``: the click did nothing (a platform may show it as an alert)."""

    text: str | None = None
    refused: bool = False
    job: Job | None = None


class ControlDesk(Protocol):
    """What a click may use in the router (Redis at most)."""

    def load_job(self, job_id: str) -> Job | None: ...

    def may_override(self, message: InboundMessage) -> bool:
        """An admin the policy names on that platform (no policy: nobody)."""
        ...

    def requeue(self, job: Job) -> Job | None:
        """A new job replacing ``job``'s answer, admitted under the policy; None: refused."""
        ...

    def route(
        self, message: InboundMessage, command_name: str, *, bound: Mapping[str, str] | None = None
    ) -> str | None:
        """Routes a command as ``message``'s user (``bound``: arguments the control adds to
        the job); the immediate reply, if any."""
        ...


def answer_click(
    click: Click,
    *,
    desk: ControlDesk,
    store: ControlStore,
    observer: FeedbackObserver | None = None,
    clock: Callable[[], float],
) -> ClickOutcome:
    locale = click.who.locale
    job = desk.load_job(click.job_id)
    if job is None:  # older than its job's TTL
        return _refused("control_expired", locale)
    if click.kind in (UP, DOWN):
        return _vote(click, job, store=store, observer=observer, at=clock())
    if click.kind == CONTINUE:
        return _continue(click, job, desk=desk)
    asker = click.who.user == job.message.user and click.who.platform == job.message.platform
    if not asker and not desk.may_override(click.who):
        return _refused(f"control_not_yours.{click.kind}", locale)
    if click.kind == STOP:
        if store.finished(job.id):
            return _refused("control_already_finished", locale)
        store.request_stop(job.id)
        return ClickOutcome(text=catalogue.text("control_stopping", locale))
    if click.kind == REGENERATE:
        if not store.finished(job.id):
            return _refused("control_still_running", locale)
        if not store.claim_regenerate(job.id):
            return _refused("control_already_regenerated", locale)
        again = desk.requeue(job)
        if again is None:
            store.release_regenerate(job.id)
            return _refused("control_regenerate_refused", locale)
        return ClickOutcome(job=again)
    return ClickOutcome(refused=True)


def _vote(
    click: Click, job: Job, *, store: ControlStore, observer: FeedbackObserver | None, at: float
) -> ClickOutcome:
    locale = click.who.locale
    facts = store.facts(job.id)
    if facts is None:
        return _refused("control_still_running", locale)
    vote: Vote = "up" if click.kind == UP else "down"
    record = VoteRecord(
        job_id=job.id, user=user_of(click.who), vote=vote, model=facts.model, command=facts.command,
        place=place_of(job.message), at=at,
    )  # fmt: skip
    replaced = store.vote(record)
    if replaced != vote and observer is not None:
        observer.feedback(model=facts.model, command=facts.command, vote=vote, replaced=replaced)
    log.info("feedback", extra={"job_id": job.id, "vote": vote, "model": facts.model, "command": facts.command})
    return ClickOutcome(text=catalogue.text("feedback_thanks", locale))


def _continue(click: Click, job: Job, *, desk: ControlDesk) -> ClickOutcome:
    locale = click.who.locale
    if find_spec(CONTINUE) is None:
        return _refused("control_unavailable", locale)
    # The original conversation (its place, thread and address), spoken by the clicker.
    who = click.who
    message = replace(
        job.message, user=who.user, user_name=who.user_name, locale=who.locale, roles=who.roles,
        text=f"/{CONTINUE}", attachments=(),
    )  # fmt: skip
    # This answer's rest, not whichever answer was cut last here (core/work.continue_cut).
    reply = desk.route(message, CONTINUE, bound={CONTINUED_ARG: job.id})
    return ClickOutcome(text=reply)


def _refused(key: str, locale: str | None) -> ClickOutcome:
    return ClickOutcome(text=catalogue.text(key, locale), refused=True)


class JobControls:
    """The worker's side of one job's controls: Stop while it streams, the final panel."""

    def __init__(self, store: ControlStore | None, job: Job, *, stops: StopWatch | None = None) -> None:
        self._store = store
        self._job = job
        self._stops = stops
        self._facts: AnswerFacts | None = None  # this attempt's answer, once known

    def streaming_panel(self) -> Panel | None:
        return streaming_panel(self._job.id, self._job.message.locale) if self._store is not None else None

    def should_stop(self) -> Callable[[], bool] | None:
        store, job_id = self._store, self._job.id
        if store is None:
            return None
        if self._stops is not None:
            return self._stops.watch(job_id)
        return lambda: store.stop_requested(job_id)

    def release(self) -> None:
        """The attempt is over: its stop flag is no longer looked at."""
        if self._stops is not None:
            self._stops.forget(self._job.id)

    def stopped_before_start(self) -> bool:
        return self._store is not None and self._store.stop_requested(self._job.id)

    def answered(self, *, model: str, outcome: str, cut: bool) -> None:
        """Remembered before the final text lands, so that a redelivery shows the same panel."""
        if self._store is not None and outcome in _WITH_PANEL:
            self._facts = AnswerFacts(model=model, command=self._job.kind, cut=cut)
            self._store.answered(self._job.id, self._facts)

    def final_panel(self, outcome: str) -> Panel | None:
        if self._store is None or outcome not in _WITH_PANEL:
            return None
        # Known when this attempt answered; a redelivery that only lands the answer asks Redis.
        facts = self._facts or self._store.facts(self._job.id)
        return final_panel(self._job.id, self._job.message.locale, cut=facts is not None and facts.cut)


# Answers that came from the model (a refusal or an error message offers nothing to rate).
_WITH_PANEL = frozenset({"ok", "stopped"})
