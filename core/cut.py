"""Answers the model cut at ``max_new_tokens`` (finish reason ``length``): never silently.

A cut answer is closed (an open code fence gets its closing fence), ends with a note that
says so, and is remembered per conversation scope so that ``/continue`` can generate the
rest from the same prompt plus the text so far (core/work.py, ``JobWork.continue_cut``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core import catalogue
from core.ports import ChatTurn

# The finish reason both TGI (details.finish_reason) and OpenAI-compatible servers
# (choices[].finish_reason) report when a generation stopped at its token limit.
LENGTH = "length"

# A CommonMark fence line: up to three spaces, then three or more backticks (an info string
# may follow). Tildes are rare in model output and are not counted.
_FENCE = re.compile(r"^ {0,3}(`{3,})([^`]*)$")


@dataclass(frozen=True, kw_only=True)
class CutAnswer:
    """What ``/continue`` needs to generate the rest of a cut answer."""

    job_id: str  # the job whose answer (or continuation) was cut last
    kind: str  # the command that asked (its per-command max_new_tokens applies again)
    model: str  # the model that wrote it: the rest comes from the same one
    messages: tuple[ChatTurn, ...]  # the prompt, as sent
    text: str  # the answer so far, exactly as generated (the prefix to continue from)
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    # The answer is the last assistant turn of its conversation's history (a chat turn):
    # a continuation extends that turn, so the history holds the whole answer once.
    in_history: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "text": self.text,
            "temperature": self.temperature,
            "stop": list(self.stop),
            "in_history": self.in_history,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CutAnswer:
        messages = data.get("messages")
        stop = data.get("stop")
        temperature = data.get("temperature")
        return cls(
            job_id=str(data["job_id"]),
            kind=str(data["kind"]),
            model=str(data["model"]),
            messages=tuple(
                ChatTurn(role=m["role"], content=m["content"]) for m in (messages if isinstance(messages, list) else [])
            ),
            text=str(data["text"]),
            temperature=float(temperature) if isinstance(temperature, int | float) else None,
            stop=tuple(str(s) for s in stop) if isinstance(stop, list) else (),
            in_history=bool(data.get("in_history")),
        )


def open_fence(text: str) -> str | None:
    """The opening line of the code block ``text`` ends inside (an odd number of fences),
    e.g. "```python"; None when every block is closed."""
    opened: str | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match is None:
            continue
        if opened is None:
            opened = line.strip()
        elif not match.group(2).strip() and len(match.group(1)) >= _ticks(opened):
            opened = None  # a closing fence: as long as the opening one, no info string
    return opened


def close_cut(text: str, locale: str | None) -> str:
    """The cut answer as shown: an open code block closed, then the note."""
    body = text.rstrip()
    fence = open_fence(body)
    if fence is not None:
        body = f"{body}\n{'`' * _ticks(fence)}"
    note = catalogue.text("answer_cut", locale)
    return f"{body}\n\n{note}" if body else note


def reopen(previous: str, more: str) -> str:
    """The continuation as its own message: where the cut text stopped inside a code block,
    the new message opens the same block again, so the rest still shows as code."""
    fence = open_fence(previous)
    if fence is None:
        return more
    rest = more.lstrip("\n")  # a rest that starts a new line needs no blank one first
    return f"{fence}\n{rest}"


def _ticks(fence: str) -> int:
    return len(fence) - len(fence.lstrip("`"))
