"""A conversation's prompt: the newest turns kept within the budget, a thread's people
named, consecutive turns of one role merged."""

from __future__ import annotations

import pytest

from core.conversation import converse, fit_history, thread_turns
from core.errors import InputError
from core.ports import ChatTurn, ThreadPost, Transcript
from tests.support.memory import MemoryContext

Messages = tuple[ChatTurn, ...]


def words(messages: Messages) -> int:
    """A stand-in tokenizer: one token per word."""
    return sum(len(m.content.split()) for m in messages)


def user(text: str) -> ChatTurn:
    return ChatTurn(role="user", content=text)


def bot(text: str) -> ChatTurn:
    return ChatTurn(role="assistant", content=text)


def test_the_newest_turns_are_kept_and_the_oldest_dropped() -> None:
    history = [user("one one"), bot("two two"), user("three three"), bot("four four")]
    messages = fit_history(system="sys", history=history, user=user("five"), budget=6, count=words)
    assert messages == (ChatTurn(role="system", content="sys"), user("three three"), bot("four four"), user("five"))


def test_everything_fits_nothing_is_dropped() -> None:
    history = [user("a"), bot("b")]
    messages = fit_history(system="s", history=history, user=user("c"), budget=100, count=words)
    assert [m.content for m in messages] == ["s", "a", "b", "c"]


def test_the_history_never_starts_with_an_answer() -> None:
    # Dropping one user turn would leave "two" first: the orphan answer goes too.
    history = [user("one"), bot("two"), user("three three three")]
    messages = fit_history(system="s", history=history, user=user("now"), budget=6, count=words)
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[-1].content == "three three three\nnow"  # a thread's last post joins the user's turn


def test_the_users_own_turn_alone_too_long_is_refused() -> None:
    with pytest.raises(InputError) as err:
        fit_history(system="s", history=[user("a"), bot("b")], user=user("x " * 50), budget=10, count=words)
    assert err.value.key == "too_long"


def test_a_thread_names_its_people_and_merges_their_turns() -> None:
    transcript = Transcript(
        posts=(ThreadPost(author="Ana", text="Shall we ship on Friday?"),
               ThreadPost(author="", text="Yes.", by_bot=True),
               ThreadPost(author="Bruno", text="Only after the migration."),
               ThreadPost(author="Carla", text="Agreed.")),
        author="Ana",
    )
    history, said = thread_turns(transcript, "When is the migration?")
    assert said == "Ana: When is the migration?"
    messages = fit_history(system="s", history=history, user=user(said), budget=1000, count=words)
    assert [m.content for m in messages] == [
        "s", "Ana: Shall we ship on Friday?", "Yes.",
        "Bruno: Only after the migration.\nCarla: Agreed.\nAna: When is the migration?",
    ]


def test_one_person_with_the_bot_reads_as_plain_chat() -> None:
    posts = (ThreadPost(author="Ana", text="hi"), ThreadPost(author="", text="hello", by_bot=True))
    transcript = Transcript(posts=posts, author="Ana")
    history, said = thread_turns(transcript, "how are you?")
    assert history == [user("hi"), bot("hello")] and said == "how are you?"


def test_the_thread_is_the_history_and_the_memory_still_records_the_turn() -> None:
    context = MemoryContext()
    context.record_exchange("s1", job_id="old", user="remembered only", assistant="from memory")
    seen: list[Messages] = []

    def generate(messages: Messages) -> str:
        seen.append(messages)
        return "the answer"

    transcript = Transcript(posts=(ThreadPost(author="Bruno", text="a colleague's note"),), author="Ana")
    answer = converse(context=context, scope="s1", job_id="j1", system="s", text="question", budget=lambda: 100,
                      count=words, generate=generate, transcript=lambda: transcript)
    assert answer == "the answer"
    prompt = "\n".join(m.content for m in seen[0])
    assert "Bruno: a colleague's note" in prompt and "Ana: question" in prompt and "from memory" not in prompt
    assert context.history("s1")[-2:] == [user("question"), bot("the answer")]


def test_without_a_thread_the_memory_is_the_history() -> None:
    context = MemoryContext()
    context.record_exchange("s1", job_id="old", user="my name is Ana", assistant="hello Ana")
    seen: list[Messages] = []
    converse(context=context, scope="s1", job_id="j1", system="s", text="who am I?", budget=lambda: 100,
             count=words, generate=lambda m: seen.append(m) or "Ana", transcript=lambda: None)
    assert [m.content for m in seen[0]] == ["s", "my name is Ana", "hello Ana", "who am I?"]
