"""Splitting long answers into platform-sized messages without breaking code blocks."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s{0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


def open_fence(text: str) -> tuple[str, str] | None:
    """(fence, opening line) of the code block still open at the end of ``text``."""
    state: tuple[str, str] | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not match:
            continue
        fence = match.group("fence")
        if state is None:
            state = (fence, line.strip())
        elif fence.startswith(state[0][0]) and len(fence) >= len(state[0]) and not match.group("info").strip():
            state = None
    return state


def _cut_point(text: str, budget: int) -> int:
    """The best place to cut ``text`` at or before ``budget`` characters: a paragraph
    break, else a line break, else a space, else a hard cut."""
    window = text[:budget]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at > budget // 4:
            return at + len(separator)
    return max(budget, 1)


def split_message(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters. A code block cut in two is
    closed at the end of one piece and reopened, with its language, at the next. A piece
    depends only on the text before its end, so a streaming answer's earlier pieces stay
    stable as it grows."""
    if limit < 32:
        raise ValueError("limit too small to split safely")
    chunks: list[str] = []
    prefix = ""
    rest = text
    while len(prefix) + len(rest) > limit:
        closing_room = 4 + 16  # "\n" + a fence of up to 19 characters
        budget = limit - len(prefix) - closing_room
        cut = _cut_point(rest, budget)
        piece, rest = rest[:cut], rest[cut:]
        state = open_fence(prefix + piece)
        chunk = (prefix + piece).rstrip("\n")
        if state is not None:
            fence, opener = state
            chunk += "\n" + fence
            prefix = opener + "\n"
            rest = rest.lstrip("\n") if not rest.startswith("\n\n") else rest[1:]
        else:
            prefix = ""
            rest = rest.lstrip("\n")
        chunks.append(chunk)
    if rest or not chunks:
        chunks.append(prefix + rest)
    return chunks
