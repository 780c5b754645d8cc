"""A conversation's turn: the scope's memory (or the platform's thread) in the prompt,
within the model's budget, and the exchange remembered once."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import InputError
from core.panel import GenerationStopped
from core.ports import ChatTurn, ContextStore, Image, Transcript

Messages = tuple[ChatTurn, ...]


def merged(turns: list[ChatTurn]) -> list[ChatTurn]:
    """Consecutive turns of one role joined into one: a thread has several people's
    messages in a row, and many chat templates insist on user/assistant alternation."""
    out: list[ChatTurn] = []
    for turn in turns:
        if out and out[-1].role == turn.role:
            out[-1] = ChatTurn(role=turn.role, content=f"{out[-1].content}\n{turn.content}",
                               images=(*out[-1].images, *turn.images))
        else:
            out.append(turn)
    return out


def fit_history(
    *, system: str, history: list[ChatTurn], user: ChatTurn, budget: int, count: Callable[[Messages], int]
) -> Messages:
    """Drops the oldest turns until the prompt fits the model's input budget: the newest
    are kept, the user's own turn always."""
    system_turn = ChatTurn(role="system", content=system)
    turns = list(history)
    while True:
        messages = (system_turn, *merged([*turns, user]))
        if count(messages) <= budget:
            return messages
        if not turns:
            raise InputError("too_long", limit=budget, length=count((user,)))
        # One turn at a time (a thread's posts are turns of their own), and never an
        # orphan answer first: the history then starts with what someone said.
        turns = turns[1:]
        while turns and turns[0].role == "assistant":
            turns = turns[1:]


def thread_turns(transcript: Transcript, text: str) -> tuple[list[ChatTurn], str]:
    """The platform's conversation as turns, and the user's text as the model reads it.
    People are named only where more than one person speaks: a one-person thread reads as
    a plain chat."""
    people = {post.author for post in transcript.posts if not post.by_bot} | {transcript.author}
    named = len(people) > 1

    def said(author: str, words: str) -> str:
        return f"{author}: {words}" if named else words

    history = [
        ChatTurn(role="assistant", content=post.text) if post.by_bot
        else ChatTurn(role="user", content=said(post.author, post.text))
        for post in transcript.posts
        if post.text.strip()
    ]
    return history, said(transcript.author, text)


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
    transcript: Callable[[], Transcript | None] | None = None,
    remember: str | None = None,
    images: tuple[Image, ...] = (),
    replaces: str | None = None,
) -> str:
    """One turn. Turns of one conversation never overlap and keep their order: the worker
    runs only the head of the conversation's line (core.ports.JobLeases), so no lock is held.
    Where the platform shows the conversation (``transcript``), that is the history: it
    holds what everyone wrote; the scope's memory is the fallback and is kept either way.
    ``remember``: what the memory keeps of the user's turn when not ``text`` itself (a turn
    with files keeps their names, not their text: core/turnfiles.py); ``images`` go with
    this turn only. ``replaces``: a regenerated turn, asked with the memory before the
    exchange it replaces, and remembered in its place (one assistant turn, not two). A
    stopped answer is remembered as far as it went."""
    found = transcript() if transcript is not None else None
    if found is None:
        history, said = context.history(scope, before=replaces), text
    else:
        history, said = thread_turns(found, text)
    user = ChatTurn(role="user", content=said, images=images)
    messages = fit_history(system=system, history=history, user=user, budget=budget(), count=count)
    try:
        answer = generate(messages)
    except GenerationStopped as stopped:
        if stopped.text.strip():
            context.record_exchange(scope, job_id=job_id, user=remember if remember is not None else text,
                                    assistant=stopped.text, replaces=replaces)
        raise
    if answer.strip():
        context.record_exchange(scope, job_id=job_id, user=remember if remember is not None else text,
                                assistant=answer, replaces=replaces)
    return answer
