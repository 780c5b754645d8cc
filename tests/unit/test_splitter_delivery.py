from __future__ import annotations

import re

import pytest

from core.delivery import StreamingReply
from core.errors import RetryAfter, TransientDeliveryError
from core.splitter import open_fence, split_message
from tests.support.memory import ManualBudget, RecordingResponder


def code_answer(lines: int) -> str:
    body = "\n".join(f"    total += {i}  # step {i}" for i in range(lines))
    code = f"def f():\n    total = 0\n{body}\n    return total"
    return f"Here is the code:\n\n```python\n{code}\n```\n\nAnd a note after it."


def unsplit(chunks: list[str]) -> str:
    """Joins pieces back, removing the fences the splitter added at the seams."""
    text = chunks[0]
    for chunk in chunks[1:]:
        if open_fence(text.rsplit("\n", 1)[0]) is not None and text.endswith("\n```"):
            text = text[: -len("\n```")]
            chunk = chunk.split("\n", 1)[1]
        text = text + "\n" + chunk
    return text


@pytest.mark.parametrize("limit", [200, 2000, 4096])
def test_split_respects_limit_and_keeps_code_blocks_closed(limit: int) -> None:
    text = code_answer(600)
    chunks = split_message(text, limit)
    assert len(chunks) > 1
    assert all(len(c) <= limit for c in chunks)
    assert all(open_fence(c) is None for c in chunks)
    assert all(c.count("```") % 2 == 0 for c in chunks)
    # every continuation of the block reopens it with its language
    assert sum(1 for c in chunks if c.startswith("```python")) >= len(chunks) - 2
    assert re.sub(r"\s+", "", unsplit(chunks)) == re.sub(r"\s+", "", text)


def test_short_text_is_one_piece() -> None:
    assert split_message("hello", 100) == ["hello"]


def test_earlier_pieces_are_stable_while_streaming() -> None:
    text = code_answer(300)
    final = split_message(text, 500)
    for end in range(1200, len(text), 97):
        partial = split_message(text[:end], 500)
        for i in range(len(partial) - 1):
            assert partial[i] == final[i]


def test_stream_coalesces_and_final_text_lands() -> None:
    responder = RecordingResponder(max_chars=1000)
    budget = ManualBudget(free=3)
    reply = StreamingReply(responder=responder, budget=budget, budget_key="k", sleep=lambda s: budget.grant())
    text = ""
    for word in ("one ", "two ", "three ", "four ", "five ", "six "):
        text += word
        reply.feed(text)
    reply.finish(text.strip())
    assert responder.transcript() == ["one two three four five six"]
    # three slots: post + two updates; the rest were coalesced into the final edit
    assert [c[0] for c in responder.calls] == ["post", "update", "update", "finish"]


def test_long_answer_arrives_in_order_across_messages() -> None:
    responder = RecordingResponder(max_chars=500)
    reply = StreamingReply(responder=responder, budget=ManualBudget(), budget_key="k", sleep=lambda s: None)
    text = code_answer(200)
    for end in range(50, len(text), 50):
        reply.feed(text[:end])
    reply.finish(text)
    assert responder.transcript() == split_message(text, 500)


def test_rate_limit_mid_stream_delays_and_final_text_is_complete() -> None:
    responder = RecordingResponder(max_chars=1000, fail_with=[])
    budget = ManualBudget()
    sleeps: list[float] = []
    reply = StreamingReply(responder=responder, budget=budget, budget_key="k", sleep=sleeps.append)
    reply.feed("partial")
    responder._fail_with = [RetryAfter(2.5), RetryAfter(1.0), TransientDeliveryError("502")]
    reply.feed("partial answer")  # rate limited: skipped, budget penalised
    reply.finish("partial answer, complete")
    assert responder.transcript() == ["partial answer, complete"]
    assert budget.penalties == [2.5, 1.0]
    assert 1.0 in sleeps and reply.rate_limit_waits == [2.5, 1.0]


def test_retry_reuses_the_messages_already_posted() -> None:
    responder = RecordingResponder(max_chars=1000)
    saved: list[list[str]] = []
    first = StreamingReply(responder=responder, budget=ManualBudget(), budget_key="k", on_refs=saved.append)
    first.feed("half an ans")
    second = StreamingReply(responder=responder, budget=ManualBudget(), budget_key="k", refs=saved[-1])
    second.finish("the whole answer")
    assert responder.transcript() == ["the whole answer"]


def test_finish_removes_the_pieces_a_shorter_answer_no_longer_needs() -> None:
    responder = RecordingResponder(max_chars=500)
    saved: list[list[str]] = []
    first = StreamingReply(responder=responder, budget=ManualBudget(), budget_key="k", on_refs=saved.append,
                           sleep=lambda s: None)
    long = code_answer(200)
    for end in range(50, len(long), 50):
        first.feed(long[:end])
    assert len(saved[-1]) >= 3
    second = StreamingReply(responder=responder, budget=ManualBudget(), budget_key="k", refs=saved[-1],
                            on_refs=saved.append, sleep=lambda s: None)
    second.finish("Sorry, something went wrong.")
    assert responder.transcript() == ["Sorry, something went wrong."]
    assert saved[-1] == second.refs == responder.order  # the job's stored refs shrank with the pieces
    deleted = [ref for op, ref in responder.calls if op == "delete"]
    assert deleted == sorted(deleted, key=lambda ref: -int(ref[1:]))  # last first: what remains is a prefix


def test_a_stale_piece_that_cannot_be_removed_does_not_fail_the_answer() -> None:
    from core.errors import Forbidden

    responder = RecordingResponder(max_chars=500)
    reply = StreamingReply(responder=responder, budget=ManualBudget(), budget_key="k", sleep=lambda s: None)
    reply.feed("a" * 400 + " " + "b" * 400)

    def refuse(ref: str) -> None:
        raise Forbidden("not allowed")

    responder.delete = refuse  # type: ignore[method-assign]
    reply.finish("short")
    assert responder.transcript()[0] == "short" and reply.refs == ["m1"]
