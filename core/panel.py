"""The controls an answer shows: Stop while it streams; Regenerate, 👍 / 👎 (and Continue
when the model was cut at its token limit) once it is final.

A ``Panel`` is platform-neutral; each platform's Responder draws it (a Slack Block Kit
button, a Discord component, a Telegram inline keyboard) or ignores it (the console). A
click's data is ``tt:<kind>:<job id>`` everywhere (Telegram's callback_data holds 64 bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

from core import catalogue

STOP, REGENERATE, UP, DOWN, CONTINUE = "stop", "regenerate", "up", "down", "continue"
KINDS = (STOP, REGENERATE, UP, DOWN, CONTINUE)
_PREFIX = "tt"


class GenerationStopped(Exception):
    """The asker stopped the generation; ``text`` is what the chat had shown of it."""

    def __init__(self, text: str) -> None:
        super().__init__("stopped")
        self.text = text


@dataclass(frozen=True, kw_only=True)
class Panel:
    """The controls under one message: each kind with its localised label and click data."""

    job_id: str
    kinds: tuple[str, ...]
    locale: str | None = None

    def label(self, kind: str) -> str:
        return catalogue.text(f"control.{kind}", self.locale)

    def data(self, kind: str) -> str:
        return encode(kind, self.job_id)


def streaming_panel(job_id: str, locale: str | None) -> Panel:
    return Panel(job_id=job_id, kinds=(STOP,), locale=locale)


def final_panel(job_id: str, locale: str | None, *, cut: bool = False) -> Panel:
    kinds = (REGENERATE, UP, DOWN, CONTINUE) if cut else (REGENERATE, UP, DOWN)
    return Panel(job_id=job_id, kinds=kinds, locale=locale)


def encode(kind: str, job_id: str) -> str:
    return f"{_PREFIX}:{kind}:{job_id}"


def decode(data: str) -> tuple[str, str] | None:
    """(kind, job id) of a click's data; None for anything that is not ours."""
    prefix, _, rest = data.partition(":")
    kind, _, job_id = rest.partition(":")
    if prefix != _PREFIX or kind not in KINDS or not job_id:
        return None
    return kind, job_id


def stopped_text(text: str, locale: str | None) -> str:
    """The text so far, marked as stopped (the marker alone when nothing was shown)."""
    marker = catalogue.text("answer_stopped", locale)
    return f"{text.rstrip()}\n\n{marker}" if text.strip() else marker
