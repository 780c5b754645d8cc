"""One conversation's queued /chat messages wait in a Redis line, not in worker threads
(issue 11): another user's job is not delayed, turns run in order, and past the caps the
user gets a clear, localised refusal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fakes.waiting import wait_until
from tests.integration.console_support import Transcript
from tests.integration.fault_support import Stack, fake_model, stack_env_for

pytestmark = pytest.mark.integration


def test_a_flooded_conversation_does_not_delay_another_user(tmp_path: Path, stack_env: dict[str, str]) -> None:
    with fake_model(between_tokens=0.05) as tgi:
        env = stack_env_for(
            stack_env, tgi=tgi, TERTULIA_MAX_WAITING_PER_CONVERSATION="1000", TERTULIA_MAX_WAITING_PER_USER="1000"
        )
        stack = Stack(env)
        flood = stack.transcript(user="flooder")
        other = stack.transcript(user="someone-else")
        with stack.worker(tmp_path / "worker.log"):  # concurrency 8
            queued = [flood.submit(f"/chat message {i}") for i in range(300)]
            sent = time.monotonic()
            job = other.submit("/chat just one question")
            answer = other.follow(job)
            waited = time.monotonic() - sent
            print(f"\nthe other user's answer took {waited:.2f}s behind 300 queued messages of one conversation")
            assert answer == "Echo: just one question"
            # Its own answer streams for ~0.2 s: anything past 2 s more would be waiting on the flood.
            assert waited < 2.2
            # The flood's turns run one at a time, in order.
            wait_until(lambda: len(stack.services.context.history(stack.services.jobs.load(queued[0]).scope)) >= 6)
            scope = stack.services.jobs.load(queued[0]).scope
            users = [t.content for t in stack.services.context.history(scope) if t.role == "user"]
            # Consecutive and in order (the memory keeps only the newest TERTULIA_CONTEXT_MAX_TURNS).
            first = int(users[0].split()[-1])
            assert users == [f"message {i}" for i in range(first, first + len(users))]


def test_waiting_caps_refuse_clearly(tmp_path: Path, stack_env: dict[str, str]) -> None:
    with fake_model() as tgi:
        caps = {"TERTULIA_MAX_WAITING_PER_CONVERSATION": "3", "TERTULIA_MAX_WAITING_PER_USER": "5"}
        stack = Stack(stack_env_for(stack_env, tgi=tgi, **caps))
        chat = stack.transcript(user="eager")
        jobs = [chat.submit(f"/chat message {i}") for i in range(3)]
        assert chat.say("/chat one more") == (
            "This conversation already has 3 messages waiting for an answer (the limit is 3). "
            "Please wait for them before sending more."
        )
        jobs += [chat.submit("/essay Tides"), chat.submit("/essay Moons")]
        spanish = Transcript(services=stack.services, router=stack.router, user="eager", locale="es")
        assert spanish.say("/essay Estrellas") == (
            "Ya tienes 5 peticiones esperando respuesta (el límite es 5). Espera a que terminen antes de enviar más."
        )
        # What /stop stops is the newest job admitted, recorded with its admission; never a refused one.
        scope = stack.services.jobs.load(jobs[-1]).scope
        assert stack.services.controls.latest(scope=scope, user="eager") == jobs[-1]
        with stack.worker(tmp_path / "worker.log"):
            def closed() -> bool:
                return {e["job"] for e in chat.events() if e["op"] == "close"} >= set(jobs)

            wait_until(closed, timeout=60)
            assert chat.say("/chat one more") == "Echo: one more"  # answered jobs no longer count


def test_a_retrying_turn_keeps_its_place_in_the_conversation(tmp_path: Path, stack_env: dict[str, str]) -> None:
    with fake_model() as tgi:
        backoff = {"TERTULIA_RETRY_BACKOFF_BASE": "1", "TERTULIA_RETRY_BACKOFF_MAX": "1"}
        stack = Stack(stack_env_for(stack_env, tgi=tgi, **backoff))
        chat = stack.transcript()
        tgi.fail_next("http_429")  # the first turn's first try: busy; it retries after ~1 s
        with stack.worker(tmp_path / "worker.log"):
            first = chat.submit("/chat first")
            second = chat.submit("/chat second")

            def closed() -> bool:
                return {e["job"] for e in chat.events() if e["op"] == "close"} >= {first, second}

            wait_until(closed, timeout=60)
        scope = stack.services.jobs.load(first).scope
        turns = [(t.role, t.content) for t in stack.services.context.history(scope)]
        assert turns == [
            ("user", "first"), ("assistant", "Echo: first"), ("user", "second"), ("assistant", "Echo: second")
        ]
