"""One job's toolbox: what a recipe (core/recipes.py) may do while the job runs.

The runner builds one ``JobWork`` per job; it owns the model calls (request, stream,
metrics), the documents a job reads and the listing of models.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core import catalogue
from core.attachments import extract_text
from core.conversation import converse
from core.delivery import StreamingReply
from core.errors import InputError, ModelError
from core.jobs import Job
from core.models import ModelSpec
from core.panel import GenerationStopped
from core.ports import (
    ChatTurn,
    ContextStore,
    GenerationRequest,
    JobObserver,
    ModelClient,
    ModelDirectory,
    PlatformDelivery,
)
from core.specs import CommandSpec, Sampling

Messages = tuple[ChatTurn, ...]

# How often a streaming generation asks whether its asker pressed Stop: one Redis read per
# interval, on the thread that reads the tokens, never one per token.
STOP_CHECK_SECONDS = 0.25
# A regenerated answer is a new sample: a command or model that samples greedily gets this.
REGENERATE_TEMPERATURE = 0.7


@dataclass(frozen=True, kw_only=True)
class ReadLimits:
    max_document_chars: int
    max_attachment_bytes: int


class JobWork:
    def __init__(
        self,
        *,
        job: Job,
        spec: CommandSpec,
        model: str,
        client: ModelClient,
        preset: ModelSpec,
        reply: StreamingReply,
        platform: PlatformDelivery,
        context: ContextStore,
        models: ModelDirectory,
        limits: ReadLimits,
        observer: JobObserver,
        persona: str | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.job = job
        self._should_stop = should_stop
        # The model stopped at max_new_tokens: the final message offers Continue (set by the
        # part that reads the finish reason; False until then).
        self.cut = False
        self._persona = persona
        self._spec = spec
        self.model = model
        self._client = client
        self._preset = preset
        self._reply = reply
        self._platform = platform
        self._context = context
        self._models = models
        self._limits = limits
        self._observer = observer

    @property
    def args(self) -> Mapping[str, str]:
        return self.job.args

    @property
    def locale(self) -> str | None:
        return self.job.message.locale

    def notify(self, key: str, **params: object) -> None:
        """A status line in place of the answer while it is being prepared."""
        self._reply.feed(catalogue.text(key, self.locale, **params))

    # --- the model -----------------------------------------------------------------------

    def generate(
        self, messages: Messages, *, sampling: Sampling, schema: dict[str, object] | None = None, show: bool = True
    ) -> str:
        """``show``: streamed into chat as it grows, and an empty answer becomes a clear
        message; otherwise the raw text, for the recipe to use."""
        request = self._request(messages, sampling=sampling, schema=schema)
        text = self._stream(request, self._reply.feed if show else None)
        if not show:
            return text
        return text.strip() or catalogue.text("empty_answer", self.locale)

    def input_budget(self, sampling: Sampling) -> int:
        """max_input_tokens minus the answer's room, as the budget for the prompt; never less
        than a quarter of the input window, so a generous max_new_tokens can't zero it."""
        info = self._client.info()
        max_new = sampling.max_new_tokens or self._preset.max_new_tokens
        return max(info.max_input_tokens - max_new, info.max_input_tokens // 4)

    def count(self, messages: Messages) -> int:
        return self._client.count_tokens(self._client.render(messages))

    def converse(self, *, system: str, text: str, sampling: Sampling) -> str:
        if self._persona:
            # The scope's persona joins the command's system text while the two, with the
            # user's turn, fit the prompt budget; otherwise the command's text alone.
            with_persona = f"{system}\n\n{self._persona}"
            alone = (ChatTurn(role="system", content=with_persona), ChatTurn(role="user", content=text))
            if self.count(alone) <= self.input_budget(sampling):
                system = with_persona
        return converse(
            context=self._context,
            scope=self.job.scope,
            job_id=self.job.id,
            system=system,
            text=text,
            budget=lambda: self.input_budget(sampling),
            count=self.count,
            generate=lambda messages: self.generate(messages, sampling=sampling),
            replaces=self.job.replaces,
        )

    def _request(
        self, messages: Messages, *, sampling: Sampling, schema: dict[str, object] | None
    ) -> GenerationRequest:
        # The command's sampling; the model client falls back to its preset for the rest.
        temperature, extra = sampling.temperature, {}
        if self.job.replaces is not None:  # Regenerate: the same prompt, a new sample
            if not (temperature or self._preset.temperature):
                temperature = REGENERATE_TEMPERATURE
            extra = {"seed": random.randrange(2**31)}
        return GenerationRequest(
            messages=messages,
            max_new_tokens=sampling.max_new_tokens or self._preset.max_new_tokens,
            temperature=temperature,
            stop=sampling.stop,
            json_schema=dict(schema) if schema is not None else None,
            extra=extra,
        )

    def _stream(self, request: GenerationRequest, feed: Callable[[str], None] | None) -> str:
        kind, started = self.job.kind, time.monotonic()
        text, count = "", 0
        check_at = started + STOP_CHECK_SECONDS
        if self._should_stop is not None and self._should_stop():  # e.g. between a long summary's parts
            raise GenerationStopped("")
        stream = self._client.stream(request)
        try:
            for delta in stream:
                if count == 0:
                    self._observer.first_token(kind=kind, model=self.model, seconds=time.monotonic() - started)
                count += 1
                text += delta
                if feed is not None:
                    feed(text)
                if self._should_stop is not None and (now := time.monotonic()) >= check_at:
                    check_at = now + STOP_CHECK_SECONDS
                    if self._should_stop():
                        stream.close()  # the model server sees the connection close
                        raise GenerationStopped(text if feed is not None else "")
        except ModelError as err:
            self._observer.model_error(model=self.model, error_type=type(err).__name__)
            raise
        # The server's own counts where the client reports them (TGI details, OpenAI usage).
        usage = stream.usage
        self._observer.tokens(
            kind=kind,
            model=self.model,
            prompt_tokens=usage.prompt_tokens if usage.prompt_tokens is not None else self._estimate(request),
            generated_tokens=usage.generated_tokens or count,
        )
        return text

    def _estimate(self, request: GenerationRequest) -> int:
        """The prompt's tokens where the server reported none (usage and budgets still count)."""
        try:
            return self.count(request.messages)
        except Exception:  # counting must never cost the answer
            return 0

    # --- documents -----------------------------------------------------------------------

    def has_documents(self) -> bool:
        return bool(self.job.message.attachments or self.job.args.get("source"))

    def documents(self) -> str:
        """The attached files, the platform source (thread, replied-to message, channel) and
        the document argument, as one text within ``max_document_chars``."""
        limits = self._limits
        parts: list[str] = []
        for attachment in self.job.message.attachments:
            data = attachment.content
            if data is None:
                data = self._platform.fetch_file(attachment, max_bytes=limits.max_attachment_bytes)
            text = extract_text(
                attachment.name, data, max_bytes=limits.max_attachment_bytes, max_chars=limits.max_document_chars
            )
            parts.append(f"[{attachment.name}]\n{text}" if len(self.job.message.attachments) > 1 else text)
        if self.job.args.get("source"):
            parts.append(self._platform.read_source(self.job))
        document_arg = self._spec.document_arg
        if document_arg and self.job.args.get(document_arg):
            parts.append(self.job.args[document_arg])
        text = "\n\n".join(p for p in parts if p.strip())
        if len(text) > limits.max_document_chars:
            raise InputError("too_long", limit=limits.max_document_chars, length=len(text))
        return text

    # --- the registry --------------------------------------------------------------------

    def models_listing(self) -> str:
        lines = [catalogue.text("models_header", self.locale)]
        reachable = self._models.reachability()
        for name in self._models.names():
            status = "model_reachable" if reachable.get(name) else "model_unreachable"
            mark = "*" if name == self.model else " "
            description = self._models.describe(name)
            if self._models.is_hosted(name):
                description = f"{description} ({catalogue.text('model_hosted', self.locale)})".strip()
            lines.append(f"{mark} `{name}` ({catalogue.text(status, self.locale)}) {description}".rstrip())
        return "\n".join(lines)
