"""One job's toolbox: what a recipe (core/recipes.py) may do while the job runs.

The runner builds one ``JobWork`` per job; it owns the model calls (request, stream,
metrics), the documents a job reads and the listing of models.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from core import catalogue
from core.attachments import DEFAULT_MAX_IMAGE_BYTES, extract_text, is_image
from core.conversation import converse
from core.cut import LENGTH, CutAnswer, close_cut, reopen
from core.delivery import StreamingReply
from core.errors import BadRequest, Forbidden, InputError, ModelError
from core.jobs import Job
from core.messages import Attachment
from core.models import ModelSpec
from core.panel import GenerationStopped
from core.ports import (
    ChatTurn,
    ContextStore,
    ConversationReader,
    CutStore,
    GenerationRequest,
    Image,
    JobObserver,
    ModelClient,
    ModelDirectory,
    PlatformDelivery,
    Transcript,
)
from core.specs import CommandSpec, Sampling
from core.table import CONTINUED_ARG
from core.turnfiles import TurnFile, fit_files, read_images, read_turn_files, remembered

Messages = tuple[ChatTurn, ...]

log = logging.getLogger("tertulia.work")
# How often a streaming generation asks whether its asker pressed Stop: one Redis read per
# interval, on the thread that reads the tokens, never one per token.
STOP_CHECK_SECONDS = 0.25
# A regenerated answer is a new sample: a command or model that samples greedily gets this.
REGENERATE_TEMPERATURE = 0.7


@dataclass(frozen=True, kw_only=True)
class ReadLimits:
    max_document_chars: int
    max_attachment_bytes: int
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES


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
        vision_models: tuple[str, ...] = (),
        cuts: CutStore | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.job = job
        self._vision_models = vision_models
        self._should_stop = should_stop
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
        self._cuts = cuts
        # The shown answer stopped at its token limit (finish reason "length"): the runner
        # adds the note, and the final panel offers Continue (core/controls.py).
        self.cut = False
        self._cut: CutAnswer | None = None  # what /continue will need, once the answer is final
        self._finish: str | None = None  # the last generation's finish reason
        self._in_history = False

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
        text = self._stream(self._client, request, self._reply.feed if show else None)
        if not show:
            return text
        self._note_cut(request, text, model=self.model)
        return text.strip() or catalogue.text("empty_answer", self.locale)

    def input_budget(self, sampling: Sampling) -> int:
        """max_input_tokens minus the answer's room, as the budget for the prompt; never less
        than a quarter of the input window, so a generous max_new_tokens can't zero it."""
        info = self._client.info()
        max_new = self._max_new_tokens(sampling)
        return max(info.max_input_tokens - max_new, info.max_input_tokens // 4)

    def count(self, messages: Messages) -> int:
        """The prompt's tokens: its rendered text, and what the preset says an image costs."""
        images = sum(len(m.images) for m in messages)
        return self._client.count_tokens(self._client.render(messages)) + images * self._preset.image_tokens

    def converse(self, *, system: str, text: str, sampling: Sampling) -> str:
        images = self.images()  # a text-only model refuses them before any model call
        names = [a.name for a in self.job.message.attachments if self._spec.turn_files or is_image(a)]
        files = self._turn_files(sampling) if self._spec.turn_files else []
        said, cut = text, list[str]()
        if files:
            turn = (ChatTurn(role="system", content=system), ChatTurn(role="user", content="", images=images))

            def with_files(content: str) -> int:
                return self.count((turn[0], replace(turn[1], content=content)))

            text, cut = fit_files(text=said, files=files, budget=self.input_budget(sampling), count=with_files)
        if self._persona:
            # The scope's persona joins the command's system text while the two, with the
            # user's turn, fit the prompt budget; otherwise the command's text alone.
            with_persona = f"{system}\n\n{self._persona}"
            alone = (ChatTurn(role="system", content=with_persona), ChatTurn(role="user", content=text))
            if self.count(alone) <= self.input_budget(sampling):
                system = with_persona
        self._in_history = True  # the answer becomes the history's last assistant turn
        answer = converse(
            context=self._context,
            scope=self.job.scope,
            job_id=self.job.id,
            system=system,
            text=text,
            budget=lambda: self.input_budget(sampling),
            count=self.count,
            generate=lambda messages: self.generate(messages, sampling=sampling),
            transcript=self._transcript,
            remember=remembered(said, names) if names else None,
            images=images,
            replaces=self.job.replaces,
        )
        if cut:  # the user hears that the model read only part of a file
            note = catalogue.text("file_cut", self.locale, names=", ".join(f'"{name}"' for name in cut))
            return f"{answer}\n\n{note}"
        return answer

    def images(self) -> tuple[Image, ...]:
        if not self._spec.images:
            return ()
        return read_images(self.job.message.attachments, read=self._read, max_bytes=self._limits.max_image_bytes,
                           vision=self._preset.vision, model=self.model, vision_models=self._vision_models,
                           locale=self.locale)  # fmt: skip

    def _turn_files(self, sampling: Sampling) -> list[TurnFile]:
        # About 8 characters a token is more than any tokenizer packs.
        max_chars = min(self._limits.max_document_chars, self.input_budget(sampling) * 8)
        return read_turn_files(self.job.message.attachments, read=self._read,
                               max_bytes=self._limits.max_attachment_bytes, max_chars=max_chars)  # fmt: skip

    def _read(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if attachment.content is not None:
            return attachment.content
        return self._platform.fetch_file(attachment, max_bytes=max_bytes)

    def _transcript(self) -> Transcript | None:
        """The platform's view of this conversation, where it has one. A platform that
        refuses to show it (a missing history scope, a deleted message) leaves the scope's
        memory to stand in; a transient failure retries the job as any delivery error does."""
        platform = self._platform
        if not isinstance(platform, ConversationReader):
            return None
        try:
            return platform.conversation(self.job, max_file_bytes=self._limits.max_attachment_bytes)
        except (Forbidden, BadRequest) as err:
            log.warning("the conversation could not be read (%s); using the scope's memory", err)
            return None

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
            max_new_tokens=self._max_new_tokens(sampling),
            temperature=temperature,
            stop=sampling.stop,
            json_schema=dict(schema) if schema is not None else None,
            extra=extra,
        )

    def _max_new_tokens(self, sampling: Sampling, kind: str | None = None) -> int:
        """The preset's own figure for this command (it knows its model), else the
        command's, else the preset's default."""
        per_command = self._preset.max_new_tokens_for(kind or self.job.kind)
        if per_command is not None:
            return per_command
        return sampling.max_new_tokens or self._preset.max_new_tokens

    def _stream(
        self,
        client: ModelClient,
        request: GenerationRequest,
        feed: Callable[[str], None] | None,
        *,
        model: str | None = None,
    ) -> str:
        kind, started = self.job.kind, time.monotonic()
        model = model or self.model
        text, count = "", 0
        check_at = started + STOP_CHECK_SECONDS
        if self._should_stop is not None and self._should_stop():  # e.g. between a long summary's parts
            raise GenerationStopped("")
        stream = client.stream(request)
        try:
            for delta in stream:
                if count == 0:
                    self._observer.first_token(kind=kind, model=model, seconds=time.monotonic() - started)
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
            self._observer.model_error(model=model, error_type=type(err).__name__)
            raise
        # The server's own counts where the client reports them (TGI details, OpenAI usage).
        usage = stream.usage
        self._finish = usage.finish_reason
        self._observer.tokens(
            kind=kind,
            model=model,
            prompt_tokens=usage.prompt_tokens if usage.prompt_tokens is not None else self._estimate(request),
            generated_tokens=usage.generated_tokens or count,
        )
        return text

    # --- answers cut at their token limit (core/cut.py) ---------------------------------

    def _note_cut(
        self, request: GenerationRequest, text: str, *, model: str, previous: CutAnswer | None = None
    ) -> None:
        """Remembers a shown generation that stopped at its token limit."""
        if self._finish != LENGTH or not text.strip():
            self.cut, self._cut = False, None
            return
        self.cut = True
        self._cut = CutAnswer(
            job_id=self.job.id,
            kind=previous.kind if previous is not None else self.job.kind,
            model=model,
            messages=request.messages,
            text=request.prefix + text,
            temperature=request.temperature,
            stop=request.stop,
            in_history=previous.in_history if previous is not None else False,
        )

    def finish_cut(self, answer: str) -> str:
        """The final text of a cut answer (its code block closed, the note after it); the
        cut is remembered for /continue in this scope. Called by the runner once the recipe
        is done, so a chat turn's history was recorded first."""
        if self._cut is None:
            return answer
        cut = self._cut
        if self._in_history and not cut.in_history:
            cut = replace(cut, in_history=True)
        if self._cuts is not None:
            self._cuts.remember(self.job.scope, cut)
        return close_cut(answer, self.locale)

    def continue_cut(self) -> str:
        """/continue: the rest of the scope's last cut answer, from its prompt plus the text
        so far, by the model that wrote it; a new message whose text follows on exactly."""
        cut = self._cuts.last(self.job.scope) if self._cuts is not None else None
        if cut is None:
            raise InputError("nothing_to_continue")
        if self.args.get(CONTINUED_ARG, cut.job_id) != cut.job_id:  # a button: its answer was continued
            raise InputError("cannot_continue_that")  # already, or a later one here was cut since
        model = cut.model if cut.model in self._models.names() else self.model
        client = self._client if model == self.model else self._models.client(model)
        max_new = self._max_new_tokens(Sampling(), kind=cut.kind)
        request = GenerationRequest(
            messages=self._fit_continuation(client, cut, max_new),
            max_new_tokens=max_new,
            temperature=cut.temperature,
            stop=cut.stop,
            prefix=cut.text,
        )
        more = self._stream(client, request, lambda text: self._reply.feed(reopen(cut.text, text)), model=model)
        if cut.in_history:
            self._context.extend_answer(self.job.scope, answer=cut.text.strip(), whole=(cut.text + more).strip())
        self._note_cut(request, more, model=model, previous=cut)
        if self._cuts is not None and not self.cut:
            self._cuts.forget(self.job.scope, job_id=cut.job_id)
        if not more.strip():
            return catalogue.text("nothing_more", self.locale)
        return reopen(cut.text, more)

    def _fit_continuation(self, client: ModelClient, cut: CutAnswer, max_new: int) -> Messages:
        """The cut answer's prompt, so that it and the answer so far still leave room for
        the rest: the oldest exchanges of a conversation go first (as fit_history drops
        them); a prompt with none left to drop is an input error, said plainly."""
        budget = max(client.info().max_input_tokens - max_new, 1)
        turns = list(cut.messages)
        while client.count_tokens(client.render(tuple(turns)) + cut.text) > budget:
            # Keep the system turn (first, if any) and the request being answered (last).
            first = 1 if turns and turns[0].role == "system" else 0
            if len(turns) - first <= 1:
                raise InputError("too_long_to_continue")
            del turns[first : first + 2 if len(turns) - first > 2 else first + 1]
        return tuple(turns)

    def _estimate(self, request: GenerationRequest) -> int:
        """The prompt's tokens where the server reported none (usage and budgets still count)."""
        try:
            return self.count(request.messages)
        except Exception:  # counting must never cost the answer
            return 0

    # --- documents -----------------------------------------------------------------------

    def has_documents(self) -> bool:
        documents = [a for a in self.job.message.attachments if not is_image(a)]
        return bool(documents or self.job.args.get("source"))

    def documents(self) -> str:
        """The attached files, the platform source (thread, replied-to message, channel) and
        the document argument, as one text within ``max_document_chars``."""
        limits = self._limits
        parts: list[str] = []
        documents = [a for a in self.job.message.attachments if not is_image(a)]  # images: ``images``
        for attachment in documents:
            data = self._read(attachment, max_bytes=limits.max_attachment_bytes)
            text = extract_text(
                attachment.name, data, max_bytes=limits.max_attachment_bytes, max_chars=limits.max_document_chars
            )
            parts.append(f"[{attachment.name}]\n{text}" if len(documents) > 1 else text)
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
