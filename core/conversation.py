"""A conversation's turn: the scope's memory in the prompt, within the model's budget, and
the exchange remembered once."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import InputError
from core.panel import GenerationStopped
from core.ports import ChatTurn, ContextStore

Messages = tuple[ChatTurn, ...]


def fit_history(
    *, system: str, history: list[ChatTurn], user: ChatTurn, budget: int, count: Callable[[Messages], int]
) -> Messages:
    """Drops the oldest turns until the prompt fits the model's input budget."""
    system_turn = ChatTurn(role="system", content=system)
    turns = list(history)
    while True:
        messages = (system_turn, *turns, user)
        if count(messages) <= budget:
            return messages
        if not turns:
            raise InputError("too_long", limit=budget, length=count((user,)))
        # Drop a whole exchange so the history never starts with an orphan answer.
        turns = turns[2:] if len(turns) >= 2 else []


def converse(
    *,
    context: ContextStore,
    scope: str,
    job_id: str,
    system: str,
    text: str,
    budget: Callable[[], int],
    count: Callable[[Messages], int],
    generate: Callable[[Messages], str],
    replaces: str | None = None,
) -> str:
    """One turn. Turns of one conversation never overlap and keep their order: the worker
    runs only the head of the conversation's line (core.ports.JobLeases), so no lock is held.
    ``replaces``: a regenerated turn, asked with the memory before the exchange it replaces,
    and remembered in its place (one assistant turn, not two). A stopped answer is
    remembered as far as it went."""
    user = ChatTurn(role="user", content=text)
    history = context.history(scope, before=replaces)
    messages = fit_history(system=system, history=history, user=user, budget=budget(), count=count)
    try:
        answer = generate(messages)
    except GenerationStopped as stopped:
        if stopped.text.strip():
            context.record_exchange(scope, job_id=job_id, user=text, assistant=stopped.text, replaces=replaces)
        raise
    if answer.strip():
        context.record_exchange(scope, job_id=job_id, user=text, assistant=answer, replaces=replaces)
    return answer
