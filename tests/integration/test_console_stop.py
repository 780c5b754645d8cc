"""/stop at the console: typed while an answer streams, it closes the model's stream (the
fake TGI server sees the client leave) and the answer keeps its text, marked as stopped."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any

import pytest

from bots.console.app import ConsoleSession
from core import catalogue
from tertulia.bootstrap import build_router
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

LONG = " ".join(f"word{n}" for n in range(200))  # 200 tokens at 0.1 s: 20 s unless stopped
STOPPED = catalogue.text("answer_stopped", "en")


def session(services: Any, out: io.StringIO, typed: list[str], *, after: str) -> ConsoleSession:
    """A console whose user types ``typed``, one line at a time, once ``after`` is on screen."""

    def next_line() -> str | None:
        return typed.pop(0) if typed and after in out.getvalue() else None

    return ConsoleSession(
        router=build_router(services), events=services.events, out=out, reply_timeout=60, user="tester",
        locale="en", max_attachment_bytes=services.settings.max_attachment_bytes, typed=next_line,
    )  # fmt: skip


def test_stop_typed_while_an_answer_streams(services: Any, worker: Any, tgi: Any) -> None:
    tgi.reset()
    tgi.set_delays(between_tokens=0.1)
    tgi.script(LONG)
    out = io.StringIO()
    console = session(services, out, ["/help", "/stop"], after="word3 ")
    outcome = console.submit("/chat write a lot")
    assert outcome.job is not None
    console.follow(outcome.job.id)
    (left,) = wait_until(lambda: tgi.disconnects, timeout=10)
    assert left.sent < left.total
    printed = out.getvalue().strip()
    assert printed.endswith(STOPPED)
    assert printed.startswith("tertulia> word0 word1 word2 word3") and "word199" not in printed
    assert console.backlog == ["/help"]  # another line typed meanwhile waits its turn
    # The conversation remembers the answer as far as it went.
    turns = services.context.history(outcome.job.scope)
    assert turns[-1].role == "assistant" and LONG.startswith(turns[-1].content) and turns[-1].content != LONG


def test_stop_with_nothing_running_says_so(services: Any, worker: Any) -> None:
    console = session(services, io.StringIO(), [], after="")
    assert console.submit("/stop").reply == catalogue.text("nothing_to_stop", "en")


def test_a_piped_stop_stops_the_line_before_it(stack_env: dict[str, str], worker: Any, tgi: Any) -> None:
    tgi.reset()
    tgi.set_delays(between_tokens=0.1)
    tgi.script(LONG)
    result = subprocess.run(
        [sys.executable, "-m", "tertulia.cli", "console"], input="/chat write a lot\n/stop\n",
        capture_output=True, text=True, timeout=120, env={**os.environ, **stack_env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(STOPPED) and "word199" not in result.stdout
