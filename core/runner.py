"""The job runner: everything a worker does for one job, behind ports.

The Celery task is a thin shell around ``JobRunner.run``: it retries on the retryable
``ModelError`` subclasses this raises, and calls ``give_up`` when retries run out.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from core import catalogue, instructions
from core.attachments import extract_text
from core.delivery import StreamingReply
from core.entities import ENTITIES_SCHEMA, EntitiesParseError, parse_entities, render_entities
from core.errors import InputError, ModelError, ModelRejected, TertuliaError
from core.jobs import Job, JobKind
from core.models import Registry
from core.ports import (
    ChatTurn,
    ContextStore,
    GenerationRequest,
    JobObserver,
    JobStore,
    ModelChoiceStore,
    ModelClient,
    ModelDirectory,
    NullObserver,
    PlatformDelivery,
    RateBudget,
)
from core.summarize import map_reduce

log = logging.getLogger("tertulia.runner")

Messages = tuple[ChatTurn, ...]
_LOW_TEMPERATURE = {JobKind.ENTITIES: 0.0, JobKind.CODE: 0.2, JobKind.TRANSLATE: 0.2, JobKind.SUMMARIZE: 0.3}
_CODE_LANGUAGES = (
    "python", "javascript", "typescript", "java", "go", "rust", "ruby", "php", "bash", "sql", "c++", "c#",
)


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
        observer: JobObserver | None = None,
    ) -> None:
        self._jobs = jobs
        self._context = context
        self._choices = choices
        self._models = models
        self._registry = registry
        self._platforms = platforms
        self._budget = budget
        self._max_document_chars = max_document_chars
        self._max_attachment_bytes = max_attachment_bytes
        self._observer: JobObserver = observer or NullObserver()

    # --- the task's entry points -------------------------------------------------------

    def run(self, job_id: str, *, attempt: int) -> None:
        """Runs a job to its final message. Raises retryable ModelErrors for the task."""
        job = self._jobs.load(job_id)
        if job is None:
            log.warning("job expired before it ran", extra={"job_id": job_id})
            return
        platform = job.message.platform
        reply = self._reply(job)
        if attempt == 0:
            self._observer.job_started(kind=job.kind.value, platform=platform)
            reply.start()
        outcome = "error"
        try:
            reply.finish(self._answer(job, reply))
            outcome = "ok"
        except InputError as err:
            outcome = "input_error"
            reply.finish(catalogue.text(err.key, job.message.locale, **err.params))
        except ModelRejected as err:
            outcome = "rejected"
            reply.finish(catalogue.text("model_rejected", job.message.locale, reason=chat_safe_reason(err)))
        except TertuliaError as err:  # a model server or platform fault; the task retries these
            if err.retryable:
                outcome = "retry"
                raise
            log.warning("job failed: %s", type(err).__name__, extra={"job_id": job.id, "platform": platform})
            reply.finish(catalogue.text("internal_error", job.message.locale))
        except Exception:
            log.exception("job failed", extra={"job_id": job.id, "platform": platform})
            reply.finish(catalogue.text("internal_error", job.message.locale))
        finally:
            if outcome != "retry":
                self._close(job, reply, outcome)

    def give_up(self, job_id: str, *, attempts: int) -> None:
        """Retries ran out: one clear message, never silence."""
        job = self._jobs.load(job_id)
        if job is None:
            return
        reply = self._reply(job)
        try:
            reply.finish(catalogue.text("model_busy", job.message.locale, attempts=attempts))
        finally:
            self._close(job, reply, "model_busy")

    # --- one job ----------------------------------------------------------------------

    def _answer(self, job: Job, reply: StreamingReply) -> str:
        if job.kind is JobKind.MODELS:
            return self._models_listing(job)
        name = self._model_name(job)
        client = self._models.client(name)
        args = job.args
        if job.kind is JobKind.CHAT:
            return self._chat(job, client, name, reply)
        if job.kind is JobKind.ESSAY:
            return self._stream(job, client, name, instructions.essay(args["title"]), reply)
        if job.kind is JobKind.TRANSLATE:
            return self._stream(job, client, name, instructions.translate(args["language"], args["text"]), reply)
        if job.kind is JobKind.CODE:
            answer = self._stream(job, client, name, instructions.code(args["text"]), reply)
            return ensure_code_block(answer, args["text"])
        if job.kind is JobKind.ENTITIES:
            # JSON is not worth streaming into chat: say that work began, then the list.
            reply.feed(catalogue.text("working", job.message.locale))
            return self._entities(job, client, name)
        if job.kind is JobKind.SUMMARIZE:
            return self._summarize(job, client, name, reply)
        raise ValueError(f"unknown job kind {job.kind}")

    def _chat(self, job: Job, client: ModelClient, name: str, reply: StreamingReply) -> str:
        user_text = job.args["text"]
        # One turn of a scope at a time, in arrival order: the worker runs only the head of
        # the scope's line (JobLeases.claim), so no lock is held here.
        history = self._context.history(job.scope)
        messages = self._fit_history(client, name, history, ChatTurn(role="user", content=user_text))
        answer = self._stream(job, client, name, messages, reply)
        if answer.strip():
            self._context.record_exchange(job.scope, job_id=job.id, user=user_text, assistant=answer)
        return answer

    def _fit_history(self, client: ModelClient, name: str, history: list[ChatTurn], user: ChatTurn) -> Messages:
        """Drops the oldest turns until the prompt fits the model's input budget."""
        budget = self._input_budget(client, name)
        system = ChatTurn(role="system", content=instructions.CHAT_SYSTEM)
        turns = list(history)
        while True:
            messages = (system, *turns, user)
            if client.count_tokens(client.render(messages)) <= budget:
                return messages
            if not turns:
                raise InputError("too_long", limit=budget, length=client.count_tokens(user.content))
            # Drop a whole exchange so the history never starts with an orphan answer.
            turns = turns[2:] if len(turns) >= 2 else []

    def _entities(self, job: Job, client: ModelClient, name: str) -> str:
        request = self._request(job, name, instructions.entities(job.args["text"]), json_schema=ENTITIES_SCHEMA)
        raw = self._collect(job, client, name, request)
        try:
            return render_entities(parse_entities(raw), job.message.locale)
        except EntitiesParseError:
            log.warning("entities output did not parse", extra={"job_id": job.id})
            return catalogue.text("entities_bad_json", job.message.locale)

    def _summarize(self, job: Job, client: ModelClient, name: str, reply: StreamingReply) -> str:
        text = self._summary_source(job)
        if not text.strip():
            raise InputError("nothing_to_summarize")
        budget = self._input_budget(client, name)

        def count(messages: Messages) -> int:
            return client.count_tokens(client.render(messages))

        def collect(messages: Messages) -> str:
            return self._collect(job, client, name, self._request(job, name, messages))

        def announce(parts: int) -> None:
            reply.feed(catalogue.text("summarizing_parts", job.message.locale, parts=parts))

        final = map_reduce(text, budget_tokens=budget, count_tokens=count, collect=collect, on_parts=announce)
        return self._stream(job, client, name, final, reply)

    def _summary_source(self, job: Job) -> str:
        parts: list[str] = []
        platform = self._platforms(job.message.platform)
        for attachment in job.message.attachments:
            data = attachment.content
            if data is None:
                data = platform.fetch_file(attachment, max_bytes=self._max_attachment_bytes)
            parts.append(extract_text(attachment.name, data, max_bytes=self._max_attachment_bytes))
        if job.args.get("source"):
            parts.append(platform.read_source(job))
        if job.args.get("text"):
            parts.append(job.args["text"])
        text = "\n\n".join(p for p in parts if p.strip())
        if len(text) > self._max_document_chars:
            raise InputError("too_long", limit=self._max_document_chars, length=len(text))
        return text

    def _models_listing(self, job: Job) -> str:
        current = self._model_name(job)
        lines = [catalogue.text("models_header", job.message.locale)]
        reachable = self._models.reachability()
        for name in self._models.names():
            status = "model_reachable" if reachable.get(name) else "model_unreachable"
            mark = "*" if name == current else " "
            description = self._models.describe(name)
            lines.append(f"{mark} `{name}` ({catalogue.text(status, job.message.locale)}) {description}".rstrip())
        return "\n".join(lines)

    # --- model calls -------------------------------------------------------------------

    def _stream(self, job: Job, client: ModelClient, name: str, messages: Messages, reply: StreamingReply) -> str:
        text = self._generate(job, client, name, self._request(job, name, messages), reply.feed)
        if not text.strip():
            return catalogue.text("empty_answer", job.message.locale)
        return text.strip()

    def _collect(self, job: Job, client: ModelClient, name: str, request: GenerationRequest) -> str:
        return self._generate(job, client, name, request, None)

    def _generate(
        self, job: Job, client: ModelClient, name: str, request: GenerationRequest, feed: Callable[[str], None] | None
    ) -> str:
        started = time.monotonic()
        text = ""
        count = 0
        stream = client.stream(request)
        try:
            for delta in stream:
                if count == 0:
                    self._observer.first_token(kind=job.kind.value, model=name, seconds=time.monotonic() - started)
                count += 1
                text += delta
                if feed is not None:
                    feed(text)
        except ModelError as err:
            self._observer.model_error(model=name, error_type=type(err).__name__)
            raise
        # The server's own counts where the client reports them (TGI details, OpenAI usage).
        usage = getattr(stream, "usage", None)
        self._observer.tokens(
            kind=job.kind.value,
            model=name,
            prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
            generated_tokens=getattr(usage, "generated_tokens", None) or count,
        )
        return text

    def _request(
        self, job: Job, name: str, messages: Messages, *, json_schema: dict[str, Any] | None = None
    ) -> GenerationRequest:
        spec = self._registry.get(name)
        return GenerationRequest(
            messages=messages,
            max_new_tokens=spec.max_new_tokens,
            temperature=_LOW_TEMPERATURE.get(job.kind, spec.temperature),
            top_p=spec.top_p,
            stop=spec.stop,
            json_schema=json_schema,
        )

    def _input_budget(self, client: ModelClient, name: str) -> int:
        """max_input_tokens minus max_new_tokens, as the budget for the prompt; never less
        than a quarter of the input window, so a generous max_new_tokens can't zero it."""
        info = client.info()
        max_new = self._registry.get(name).max_new_tokens
        return max(info.max_input_tokens - max_new, info.max_input_tokens // 4)

    def _model_name(self, job: Job) -> str:
        chosen = self._choices.get(job.scope)
        if chosen and chosen in self._models.names():
            return chosen
        return self._models.default_for(job.kind.value)

    # --- delivery ----------------------------------------------------------------------

    def _reply(self, job: Job) -> StreamingReply:
        responder = self._platforms(job.message.platform).responder(job)
        return StreamingReply(
            responder=responder,
            budget=self._budget,
            budget_key=f"{job.message.platform}:{responder.destination}",
            refs=self._jobs.load_refs(job.id),
            on_refs=lambda refs: self._jobs.save_refs(job.id, refs),
        )

    def _close(self, job: Job, reply: StreamingReply, outcome: str) -> None:
        platform = job.message.platform
        try:
            reply.close()
        finally:
            self._observer.job_finished(kind=job.kind.value, platform=platform, outcome=outcome)
            for seconds in reply.rate_limit_waits:
                self._observer.rate_limited(platform=platform, seconds=seconds)
            self._observer.delivered(platform=platform, seconds=max(time.time() - job.created_at, 0.0))


def chat_safe_reason(err: Exception) -> str:
    """The server's first line of explanation, without URLs (hosts and any credentials in
    them stay out of chat), short."""
    first = str(err).splitlines()[0] if str(err) else ""
    return re.sub(r"\w+://\S+", "<server>", first)[:200].strip() or "rejected"


def ensure_code_block(answer: str, prompt: str) -> str:
    """The /code contract is a fenced block naming its language; small models forget."""
    if re.search(r"^```\S+", answer, re.M):
        return answer
    language = next((lang for lang in _CODE_LANGUAGES if re.search(rf"\b{re.escape(lang)}\b", prompt, re.I)), "text")
    if "```" in answer:  # a fence without a language: name it
        return re.sub(r"^```\s*$", f"```{language}", answer, count=1, flags=re.M)
    return f"```{language}\n{answer.strip()}\n```"
