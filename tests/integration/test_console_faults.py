"""A busy or dead model server gets retries, then one clear message; bad input gets a
clear answer and never reaches the model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.console_support import Transcript

pytestmark = pytest.mark.integration

STALLED = "(The language model stopped answering; trying again...)"
BUSY = (
    "Sorry, the language model is busy or unavailable right now and I couldn't answer after 4 tries. "
    "Please try again in a minute."
)


@pytest.fixture
def chat(services: Any, worker: Any, tgi: Any) -> Iterator[Transcript]:
    from tertulia.bootstrap import build_router

    tgi.reset()
    yield Transcript(services=services, router=build_router(services))
    tgi.reset()


@pytest.mark.parametrize("fault", ["http_429", "overloaded_in_stream", "http_503", "stall"])
def test_fault_is_retried_then_answered(chat: Transcript, tgi: Any, fault: str) -> None:
    tgi.fail_next(fault, after_tokens=2, stall_seconds=3.0)
    tgi.script("Partial words of a first try.", "Recovered answer here.")
    answer = chat.say("/chat hello there")
    assert len(tgi.generation_requests()) == 2  # the failed call, then the retry
    finals = [e["text"] for e in chat.events() if e["op"] == "finish"]
    assert finals == ["Recovered answer here."]
    assert answer.endswith("Recovered answer here.")


@pytest.mark.parametrize("fault", ["http_429", "overloaded_in_stream", "http_503", "stall"])
def test_fault_that_persists_gets_one_clear_message(chat: Transcript, tgi: Any, fault: str) -> None:
    tgi.fail_next(fault, times=10, after_tokens=2, stall_seconds=3.0)
    answer = chat.say("/chat hello there")
    assert len(tgi.generation_requests()) == 4  # the first try and three retries
    assert answer.endswith(BUSY)
    assert "Traceback" not in answer
    finals = [e for e in chat.events() if e["op"] == "finish"]
    assert [e["text"] for e in finals] == [BUSY]  # one message, even after partial tokens


def test_a_stall_behind_keepalives_is_told_at_once_then_answered_clearly(chat: Transcript, tgi: Any) -> None:
    # The model sends two tokens, then only SSE keep-alive comments (every 0.3 s, well under
    # the stack's 1.5 s token timeout) for a minute, on every try.
    tgi.fail_next("stall_keepalive", times=10, after_tokens=2, stall_seconds=60.0, keepalive_seconds=0.3)
    started = time.monotonic()
    answer = chat.say("/chat hello there")
    assert time.monotonic() - started < 30
    assert answer.endswith(BUSY)
    assert len(tgi.generation_requests()) == 4
    notices = [e for e in chat.events() if e["op"] == "update" and e["text"].endswith(STALLED)]
    assert notices and notices[0]["text"].startswith("Echo:")  # after the words already shown


def test_dead_server_gets_retries_then_a_message(chat: Transcript) -> None:
    assert chat.say("/model offline") == "This conversation now uses the model 'offline'."
    assert chat.say("/chat anyone there?") == BUSY


def test_empty_arguments_get_a_usage_line(chat: Transcript, tgi: Any) -> None:
    assert chat.say("/translate") == "Usage: /translate <language> <text>, for example /translate de Good morning"
    assert chat.say("/essay") == "Usage: /essay <title>"
    assert tgi.generation_requests() == []


def test_text_over_the_limit_names_the_limit(chat: Transcript, tgi: Any) -> None:
    answer = chat.say("/chat " + "word " * 1000)
    assert answer == "That text is too long: the limit is 4000 characters (yours has 4999)."
    assert tgi.generation_requests() == []


def test_unsupported_and_oversized_files(chat: Transcript, tgi: Any, tmp_path: Path) -> None:
    binary = tmp_path / "tool.exe"
    binary.write_bytes(b"MZ")
    big = tmp_path / "big.txt"
    big.write_text("x" * 300_000)
    assert chat.say(f"/summarize @{binary}") == "I can't read 'tool.exe'. I read .txt, .md, .pdf, .docx files."
    assert chat.say(f"/summarize @{big}") == "The file 'big.txt' is too large: the limit is 195.3 KB."
    assert tgi.generation_requests() == []


def test_model_switch_goes_to_that_endpoint_and_flavour(chat: Transcript, tgi: Any, tgi_second: Any) -> None:
    tgi_second.reset()
    tgi_second.script("From the second model.")
    assert chat.say("/model openai-test") == "This conversation now uses the model 'openai-test'."
    assert chat.say("/chat which model are you?") == "From the second model."
    request = tgi_second.generation_requests()[-1]
    assert request.path == "/v1/chat/completions" and request.body["model"] == "test-model"
    assert request.body["stream"] is True
    assert tgi.generation_requests() == []
    listing = chat.say("/models")
    assert "* `openai-test` (reachable)" in listing and "`offline` (not reachable)" in listing


def test_piped_console_answers_each_line_then_exits(
    stack_env: dict[str, str], worker: Any, tgi: Any
) -> None:
    tgi.reset()
    tgi.script("Bonjour.", "Hallo.")
    lines = "/help\n/translate fr Hello\n/translate de Hello\n"
    result = subprocess.run(
        [sys.executable, "-m", "tertulia.cli", "console"],
        input=lines, capture_output=True, text=True, timeout=120,
        env={**os.environ, **stack_env},
    )
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("tertulia> ")]
    assert replies[0].startswith("tertulia> I can help with:")
    assert replies[1:] == ["tertulia> Bonjour.", "tertulia> Hallo."]


@pytest.mark.parametrize("mode", [{"PYTHONUTF8": "1"}, {"PYTHONUTF8": "0", "LC_ALL": "C.UTF-8"}],
                         ids=["surrogateescape", "strict"])
def test_invalid_utf8_typed_on_the_console_is_answered(
    stack_env: dict[str, str], worker: Any, tgi: Any, mode: dict[str, str]
) -> None:
    # Latin-1 bytes in a UTF-8 terminal: in UTF-8 mode Python hands them on as lone
    # surrogates, which no HTTP client can encode; otherwise reading the line fails.
    tgi.reset()
    tgi.script("Café au lait.")
    result = subprocess.run(
        [sys.executable, "-m", "tertulia.cli", "console"],
        input=b"/translate fr caf\xe9 au lait \xff\n", capture_output=True, timeout=120,
        env={**os.environ, **stack_env, **mode},
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert "tertulia> Café au lait." in result.stdout.decode()
    assert "caf\ufffd au lait \ufffd" in tgi.prompts()[-1]


@pytest.mark.parametrize("fault", ["http_422", "validation_in_stream"])
def test_a_rejected_request_is_not_retried_and_says_why(chat: Transcript, tgi: Any, fault: str) -> None:
    tgi.fail_next(fault, times=5)
    answer = chat.say("/chat hello there")
    assert len(tgi.generation_requests()) == 1  # the same request would be rejected again
    assert answer.startswith("Sorry, the language model couldn't handle that request (")
    assert "http://" not in answer and "Traceback" not in answer
