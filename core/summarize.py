"""Map-reduce summaries for text longer than the model's input budget."""

from __future__ import annotations

import re
from collections.abc import Callable

from core import instructions
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
    on_parts: Callable[[int], None] | None = None,
) -> Messages:
    """Summarises ``text`` part by part until what is left fits one request, and returns
    that final request (the caller streams it to the user). ``count_tokens`` measures a
    whole rendered request; ``collect`` runs one request to completion."""
    request = instructions.summarize(text)
    if count_tokens(request) <= budget_tokens:
        return request
    overhead = count_tokens(instructions.summarize("", partial=True))
    room = max(budget_tokens - overhead, 16)
    chars_per_token = max(len(text) / max(count_tokens(instructions.summarize(text)) - overhead, 1), 1.0)
    chunks = chunk_text(text, max_chars=max(int(room * chars_per_token * 0.9), 64))
    if on_parts is not None:
        on_parts(len(chunks))
    summaries = [collect(instructions.summarize(chunk, partial=True)) for chunk in chunks]
    for _ in range(8):  # each round shrinks the text; a bound keeps a runaway model finite
        request = instructions.combine_summaries(summaries)
        if count_tokens(request) <= budget_tokens or len(summaries) == 1:
            return request
        half = max(len(summaries) // 2, 1)
        groups = [summaries[:half], summaries[half:]]
        summaries = [collect(instructions.combine_summaries(g)) for g in groups if g]
    return instructions.combine_summaries(summaries)
