"""Map-reduce reading of text longer than the model's input budget (summaries, answers)."""

from __future__ import annotations

import re
from collections.abc import Callable

from core.ports import ChatTurn

Messages = tuple[ChatTurn, ...]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_text(text: str, *, max_chars: int) -> list[str]:
    """Greedy packing of paragraphs, then sentences, then hard cuts, into <= max_chars."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            while len(sentence) > max_chars:
                pieces.append(sentence[:max_chars])
                sentence = sentence[max_chars:]
            if sentence:
                pieces.append(sentence)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n\n{piece}" if current else piece
        if len(candidate) <= max_chars:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def map_reduce(
    text: str,
    *,
    budget_tokens: int,
    count_tokens: Callable[[Messages], int],
    collect: Callable[[Messages], str],
    whole: Callable[[str], Messages],
    part: Callable[[str, int], Messages],
    combine: Callable[[list[str]], Messages],
    on_parts: Callable[[int], None] | None = None,
) -> Messages:
    """Reads ``text`` part by part until what is left fits one request, and returns that
    final request (the caller streams it to the user). ``whole``, ``part`` and ``combine``
    build the command's requests (a summary, an answer with its sources...);
    ``count_tokens`` measures a whole rendered request; ``collect`` runs one to completion."""
    request = whole(text)
    if count_tokens(request) <= budget_tokens:
        return request
    overhead = count_tokens(part("", 1))
    room = max(budget_tokens - overhead, 16)
    chars_per_token = max(len(text) / max(count_tokens(part(text, 1)) - overhead, 1), 1.0)
    chunks = chunk_text(text, max_chars=max(int(room * chars_per_token * 0.9), 64))
    if on_parts is not None:
        on_parts(len(chunks))
    results = [collect(part(chunk, number)) for number, chunk in enumerate(chunks, 1)]
    for _ in range(8):  # each round shrinks the text; a bound keeps a runaway model finite
        request = combine(results)
        if count_tokens(request) <= budget_tokens or len(results) == 1:
            return request
        half = max(len(results) // 2, 1)
        groups = [results[:half], results[half:]]
        results = [collect(combine(g)) for g in groups if g]
    return combine(results)
