"""How a worker answers a command: the few shapes every command in the table is one of.

A command picks a recipe and fills it with its prompts and sampling (core/table.py); the
runner only calls ``recipe.answer(work)``, so a new command needs no runner code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from core.errors import InputError
from core.ports import Image
from core.specs import Messages, Recipe, Sampling, Work
from core.summarize import map_reduce

Args = Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class Prompted:
    """One request built from the arguments. ``stream`` False: the raw output is not worth
    showing as it grows (JSON), so the user sees that work began, then the finished text."""

    build: Callable[[Args], Messages]
    sampling: Sampling = field(default_factory=Sampling)
    schema: dict[str, object] | None = None
    stream: bool = True
    finish: Callable[[str, Work], str] | None = None

    def answer(self, work: Work) -> str:
        if not self.stream:
            work.notify("working")
        text = work.generate(self.build(work.args), sampling=self.sampling, schema=self.schema, show=self.stream)
        return self.finish(text, work) if self.finish is not None else text


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """A turn of the scope's conversation: its memory goes into the prompt, and the
    exchange is remembered."""

    system: str
    text_arg: str = "text"
    sampling: Sampling = field(default_factory=Sampling)

    def answer(self, work: Work) -> str:
        return work.converse(system=self.system, text=work.args[self.text_arg], sampling=self.sampling)


@dataclass(frozen=True, kw_only=True)
class Documents:
    """Reads documents (files, a thread, a replied-to message, the document argument),
    map-reduce when they exceed the model's input budget, then streams the final answer.
    ``otherwise`` answers when there is nothing to read; without it that is an input error."""

    whole: Callable[[str, Args], Messages]  # the whole text in one request
    part: Callable[[str, int, Args], Messages]  # part number n of a longer text
    combine: Callable[[list[str], Args], Messages]  # the parts' results, together
    sampling: Sampling = field(default_factory=Sampling)
    empty_key: str = "nothing_to_summarize"
    otherwise: Recipe | None = None

    def answer(self, work: Work) -> str:
        if self.otherwise is not None and not work.has_documents():
            return self.otherwise.answer(work)
        images = work.images()  # refused for a text-only model before any model call
        text = work.documents()
        if not text.strip():
            raise InputError(self.empty_key)
        args = work.args
        final = map_reduce(
            text,
            budget_tokens=work.input_budget(self.sampling),
            count_tokens=work.count,
            collect=lambda messages: work.generate(messages, sampling=self.sampling, show=False),
            whole=lambda chunk: self.whole(chunk, args),
            part=lambda chunk, number: self.part(chunk, number, args),
            combine=lambda results: self.combine(results, args),
            on_parts=lambda parts: work.notify("summarizing_parts", parts=parts),
        )
        return work.generate(_with_images(final, images), sampling=self.sampling)


def _with_images(messages: Messages, images: tuple[Image, ...]) -> Messages:
    """The images go with the final request's last user turn (the parts read before it are
    text about the documents)."""
    if not images:
        return messages
    last = max(i for i, m in enumerate(messages) if m.role == "user")
    return tuple(replace(m, images=images) if i == last else m for i, m in enumerate(messages))


@dataclass(frozen=True, kw_only=True)
class Continuation:
    """/continue: the rest of this scope's last answer cut at its token limit, as a new
    message that follows on exactly (core/cut.py)."""

    def answer(self, work: Work) -> str:
        return work.continue_cut()


@dataclass(frozen=True, kw_only=True)
class ModelListing:
    """The registry's models, which answer now, and the one this scope uses."""

    def answer(self, work: Work) -> str:
        return work.models_listing()
