"""A conversation's turn: the scope's memory in the prompt, within the model's budget, and
the exchange remembered once."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import InputError
from core.ports import ChatTurn, ContextStore, Image

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
    remember: str | None = None,
    images: tuple[Image, ...] = (),
) -> str:
    """One turn. Turns of one conversation never overlap and keep their order: the worker
    runs only the head of the conversation's line (core.ports.JobLeases), so no lock is held.
    ``remember``: what the memory keeps of the user's turn when not ``text`` itself (a turn
    with files keeps their names, not their text: core/turnfiles.py); ``images`` go with
    this turn only."""
    user = ChatTurn(role="user", content=text, images=images)
    history = context.history(scope)
    messages = fit_history(system=system, history=history, user=user, budget=budget(), count=count)
    answer = generate(messages)
    if answer.strip():
        context.record_exchange(scope, job_id=job_id, user=remember if remember is not None else text,
                                assistant=answer)
    return answer
