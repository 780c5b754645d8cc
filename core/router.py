"""The command router: turns an InboundMessage into an immediate reply or a queued job.

Everything here is quick (Redis at most), because adapters call it inside the platform's
acknowledgement window; model work always goes to a job. What each command takes and does
comes from the command table (core/table.py): there is no per-command code here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from core import catalogue
from core.actions import help_text
from core.attachments import DEFAULT_MAX_IMAGE_BYTES, check_attachment, is_image
from core.commands import Command, check_args, command_from, parse_line
from core.control_ports import ControlStore, FeedbackObserver
from core.controls import Click, ClickOutcome, answer_click
from core.errors import InputError
from core.guard import Gate
from core.jobs import Job
from core.messages import InboundMessage
from core.ports import ContextStore, JobQueue, JobStore, ModelChoiceStore
from core.scope import scope_key
from core.specs import CommandSpec
from core.table import COMMANDS, find_spec

log = logging.getLogger("tertulia.router")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What the adapter does next: show ``reply`` now, or tell the user ``job`` is queued.
    Neither: the message was not for us (plain text not addressed to the bot)."""

    reply: str | None = None
    job: Job | None = None

    @property
    def ignored(self) -> bool:
        return self.reply is None and self.job is None


class Router:
    def __init__(
        self,
        *,
        jobs: JobStore,
        queue: JobQueue,
        context: ContextStore,
        choices: ModelChoiceStore,
        model_names: Callable[[], list[str]],
        max_input_chars: int,
        max_attachment_bytes: int,
        bot_username: str | None = None,
        gate: Gate | None = None,
        max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
        controls: ControlStore | None = None,
        feedback: FeedbackObserver | None = None,
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._context = context
        self._choices = choices
        self._model_names = model_names
        self._max_input_chars = max_input_chars
        self._max_attachment_bytes = max_attachment_bytes
        self._max_image_bytes = max_image_bytes
        self._bot_username = bot_username
        self._gate = gate  # None: no policy (everyone admin, no limits)
        self._controls = controls  # None: no Stop, Regenerate or feedback (tests of other parts)
        self._feedback = feedback

    def handle(self, message: InboundMessage, *, command: Command | None = None) -> Outcome:
        """``command``: what the platform already typed (an option list, a slash command's
        name); without it, the message's text is parsed here, once."""
        try:
            if command is None:
                command = self._command_in(message)
                if command is None:
                    return Outcome()
            return self._dispatch(message, command)
        except InputError as err:
            return Outcome(reply=catalogue.text(err.key, message.locale, **err.params))

    # --- the Desk that immediate actions use ---------------------------------------------

    def model_names(self) -> list[str]:
        return self._model_names()

    def forget(self, scope: str) -> None:
        self._context.clear(scope)

    def choose_model(self, scope: str, name: str) -> None:
        self._choices.set(scope, name)

    def model_permitted(self, message: InboundMessage, name: str) -> bool:
        return self._gate is None or self._gate.model_permitted(message, name)

    def persona(self, message: InboundMessage) -> str | None:
        return self._gate.persona(message) if self._gate is not None else None

    def set_persona(self, message: InboundMessage, text: str | None) -> None:
        if self._gate is None:
            raise InputError("policy_off")
        self._gate.set_persona(message, text)

    def usage_text(self, message: InboundMessage) -> str:
        if self._gate is None:
            raise InputError("policy_off")
        return self._gate.usage_text(message)

    def stop_latest(self, message: InboundMessage) -> str:
        """/stop: the newest job this user started in this conversation."""
        if self._controls is None:
            return catalogue.text("nothing_to_stop", message.locale)
        job_id = self._controls.latest(scope=scope_key(message), user=message.user)
        if job_id is None or self._controls.finished(job_id):
            return catalogue.text("nothing_to_stop", message.locale)
        self._controls.request_stop(job_id)
        return catalogue.text("control_stopping", message.locale)

    # --- answer controls (core/controls.py) ------------------------------------------------

    def click(self, click: Click) -> ClickOutcome:
        """A control pressed under an answer: Stop, Regenerate, a vote, Continue."""
        if self._controls is None:
            return ClickOutcome(text=catalogue.text("control_unavailable", click.who.locale), refused=True)
        return answer_click(click, desk=self, store=self._controls, observer=self._feedback, clock=time.time)

    def load_job(self, job_id: str) -> Job | None:
        return self._jobs.load(job_id)

    def may_override(self, message: InboundMessage) -> bool:
        return self._gate is not None and self._gate.names_admin(message)

    def requeue(self, job: Job) -> Job | None:
        again = Job(kind=job.kind, message=job.message, scope=job.scope, args=dict(job.args), replaces=job.id)
        if self._gate is not None:
            chosen = self._choices.get(job.scope) if self._gate.checks_models(job.message) else None
            if self._gate.admit(job.message, job_id=again.id, kind=again.kind, model=chosen) is not None:
                return None
        self._jobs.save(again)
        # The new answer takes the old one's messages: its first edits replace them in place.
        self._jobs.save_refs(again.id, self._jobs.load_refs(job.id))
        self._enqueue(again)
        return again

    def route(
        self, message: InboundMessage, command_name: str, *, bound: Mapping[str, str] | None = None
    ) -> str | None:
        command = replace(command_from(command_name), bound=dict(bound or {}))
        return self.handle(message, command=command).reply

    # --- routing -------------------------------------------------------------------------

    def _command_in(self, message: InboundMessage) -> Command | None:
        text = message.text.strip()
        line = parse_line(text, bot_username=self._bot_username)
        if line is not None:
            return command_from(line.name, text=line.args)
        if text.startswith("/") and len(text) > 1 and not text[1].isspace():
            return None  # /cmd@another_bot: Telegram groups deliver it to every bot
        if not message.addressed:
            return None
        if not text or text == "/":
            return Command(name="help")
        return Command(name="chat", args={"text": text})

    def _dispatch(self, message: InboundMessage, command: Command) -> Outcome:
        if self._gate is not None and (outside := self._gate.outsider(message)) is not None:
            return Outcome(reply=outside.reply)
        spec = find_spec(command.name) if command.known else None
        if spec is None:
            return Outcome(reply=help_text(COMMANDS, message.locale))
        args = check_args(spec, command.args)
        if spec.action is not None:
            if args is None:
                return Outcome(reply=self._usage(spec, message))
            if self._gate is not None and spec.admin is not None and spec.admin(message, args) \
                    and not self._gate.is_admin(message):  # fmt: skip
                return Outcome(reply=self._gate.admin_only(message).reply)
            return Outcome(reply=spec.action(self, message, args))
        if spec.takes_files:
            for attachment in message.attachments:
                check_attachment(attachment, max_bytes=self._max_attachment_bytes, images=spec.images,
                                 max_image_bytes=self._max_image_bytes)
        if args is None:
            return Outcome(reply=self._usage(spec, message))
        reading = self._with_source(spec, message, args)
        if reading is None:
            return Outcome(reply=self._usage(spec, message))
        return self._job(spec, message, {**reading, **command.bound})

    def _with_source(self, spec: CommandSpec, message: InboundMessage, args: dict[str, str]) -> dict[str, str] | None:
        """Adds the surrounding text to read ("thread", "reply", "channel") when the command
        reads it and the line gave no document; None when a document reader has nothing."""
        files = spec.reads_files and any(not is_image(a) for a in message.attachments)
        given = bool(spec.document_arg and args.get(spec.document_arg))
        if not files and not given and message.context in spec.contexts:
            return {**args, "source": str(message.context)}
        if spec.document_arg is not None and not files and not given:
            return None
        return args

    def _usage(self, spec: CommandSpec, message: InboundMessage) -> str:
        listing = ", ".join(self._model_names())
        return catalogue.text(spec.usage_key(), message.locale, models=listing)

    def _job(self, spec: CommandSpec, message: InboundMessage, args: dict[str, str]) -> Outcome:
        for value in args.values():
            if len(value) > self._max_input_chars:
                raise InputError("too_long", limit=self._max_input_chars, length=len(value))
        if message.attachments and not spec.takes_files:
            message = replace(message, attachments=())  # the worker never fetches what it won't read
        job = Job(kind=spec.name, message=message, scope=scope_key(message), args=args)
        if self._gate is not None:
            # The choice matters to the gate only where the policy restricts models.
            chosen = self._choices.get(job.scope) if self._gate.checks_models(message) else None
            refused = self._gate.admit(message, job_id=job.id, kind=job.kind, model=chosen)
            if refused is not None:
                return Outcome(reply=refused.reply)
        # One round trip: the record, its place in line and, once admitted, the asker's newest job.
        self._jobs.save(job, admit=True, newest=self._controls is not None)
        self._send(job)
        return Outcome(job=job)

    def _enqueue(self, job: Job) -> None:
        self._jobs.admit(job)
        if self._controls is not None:
            self._controls.remember_latest(scope=job.scope, user=job.message.user, job_id=job.id)
        self._send(job)

    def _send(self, job: Job) -> None:
        self._queue.enqueue(job.id)
        log.info("job queued", extra={"job_id": job.id, "kind": job.kind, "platform": job.message.platform})

