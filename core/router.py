"""The command router: turns an InboundMessage into an immediate reply or a queued job.

Everything here is quick (Redis at most), because adapters call it inside the platform's
acknowledgement window; model work always goes to a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from core import catalogue
from core.attachments import check_attachment
from core.commands import parse_command, split_first_word
from core.errors import InputError
from core.jobs import Job, JobKind
from core.languages import resolve_language
from core.messages import InboundMessage
from core.ports import ContextStore, JobQueue, JobStore, ModelChoiceStore
from core.scope import scope_key

log = logging.getLogger("tertulia.router")

_JOB_COMMANDS: dict[str, JobKind] = {
    "essay": JobKind.ESSAY,
    "summarize": JobKind.SUMMARIZE,
    "summarise": JobKind.SUMMARIZE,
    "translate": JobKind.TRANSLATE,
    "chat": JobKind.CHAT,
    "entities": JobKind.ENTITIES,
    "code": JobKind.CODE,
}


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
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._context = context
        self._choices = choices
        self._model_names = model_names
        self._max_input_chars = max_input_chars
        self._max_attachment_bytes = max_attachment_bytes
        self._bot_username = bot_username

    def handle(
        self,
        message: InboundMessage,
        *,
        source: str | None = None,
        extra_args: dict[str, str] | None = None,
    ) -> Outcome:
        """``source`` names text the platform can supply for an argument-less /summarize
        ("thread", "channel", "reply"); ``extra_args`` carries typed options (Discord)."""
        try:
            return self._handle(message, source=source, extra_args=extra_args or {})
        except InputError as err:
            return Outcome(reply=catalogue.text(err.key, message.locale, **err.params))

    def _handle(self, message: InboundMessage, *, source: str | None, extra_args: dict[str, str]) -> Outcome:
        command = parse_command(message.text, bot_username=self._bot_username)
        if command is None:
            if message.text.startswith("/"):  # a command for another bot
                return Outcome()
            if not message.addressed or not message.text.strip():
                return Outcome()
            return self._job(JobKind.CHAT, message, {"text": message.text.strip()})
        name, args = command.name, command.args
        if name == "tertulia":  # Slack's single umbrella command: /tertulia model llama-2-chat
            sub, rest = split_first_word(args)
            name, args = (sub.lower() or "help"), rest
        locale = message.locale
        if name in ("help", "start"):
            return Outcome(reply=catalogue.text("help", locale))
        if name == "reset":
            scope = scope_key(message)
            self._context.clear(scope)
            return Outcome(reply=catalogue.text("reset_done", locale))
        if name == "models":
            return self._job(JobKind.MODELS, message, {})
        if name == "model":
            return self._set_model(message, args)
        kind = _JOB_COMMANDS.get(name)
        if kind is None:
            return Outcome(reply=catalogue.text("help", locale))
        return self._command_job(kind, name, message, args, source=source, extra_args=extra_args)

    def _command_job(
        self,
        kind: JobKind,
        name: str,
        message: InboundMessage,
        args: str,
        *,
        source: str | None,
        extra_args: dict[str, str],
    ) -> Outcome:
        usage = catalogue.text(f"usage.{kind.value}", message.locale)
        if kind is JobKind.TRANSLATE:
            language_word, text = split_first_word(args)
            if not language_word or not text:
                return Outcome(reply=usage)
            language = resolve_language(language_word)
            if language is None:
                raise InputError("unknown_language", language=language_word)
            return self._job(kind, message, {"language": language, "text": text})
        if kind is JobKind.SUMMARIZE:
            if message.attachments:
                for attachment in message.attachments:
                    check_attachment(attachment, max_bytes=self._max_attachment_bytes)
                return self._job(kind, message, {"text": args, **extra_args})
            if not args:
                if source:
                    return self._job(kind, message, {"source": source, **extra_args})
                return Outcome(reply=usage)
            return self._job(kind, message, {"text": args, **extra_args})
        if not args:
            return Outcome(reply=usage)
        key = "title" if kind is JobKind.ESSAY else "text"
        return self._job(kind, message, {key: args, **extra_args})

    def _set_model(self, message: InboundMessage, args: str) -> Outcome:
        names = self._model_names()
        listing = ", ".join(names)
        wanted = args.strip()
        if not wanted:
            return Outcome(reply=catalogue.text("usage.model", message.locale, models=listing))
        if wanted not in names:
            return Outcome(reply=catalogue.text("model_unknown", message.locale, model=wanted, models=listing))
        self._choices.set(scope_key(message), wanted)
        return Outcome(reply=catalogue.text("model_set", message.locale, model=wanted))

    def _job(self, kind: JobKind, message: InboundMessage, args: dict[str, str]) -> Outcome:
        for value in (args.get("text", ""), args.get("title", "")):
            if len(value) > self._max_input_chars:
                raise InputError("too_long", limit=self._max_input_chars, length=len(value))
        job = Job(kind=kind, message=message, scope=scope_key(message), args=args)
        self._jobs.save(job)
        self._jobs.admit(job)
        self._queue.enqueue(job.id)
        log.info("job queued", extra={"job_id": job.id, "kind": kind.value, "platform": message.platform})
        return Outcome(job=job)
