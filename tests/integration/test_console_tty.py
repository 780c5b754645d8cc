"""The console at a terminal (stdin a tty: answers stream as they grow), under a pseudo-terminal,
with a real worker and the fake model server: each answer is printed once."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


class Terminal:
    """``tertulia console`` with a pty as its terminal; what it printed accumulates in ``screen``."""

    def __init__(self, env: dict[str, str]) -> None:
        self._master, slave = pty.openpty()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tertulia.cli", "console", "--locale", "en"],
            stdin=slave, stdout=slave, stderr=slave, env={**os.environ, **env}, cwd=REPO, close_fds=True,
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, predicate: Any, *, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while not predicate(self.screen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the terminal never showed what was expected:\n{self.screen}")
            ready, _, _ = select.select([self._master], [], [], min(left, 0.5))
            if ready:
                try:
                    self.screen += os.read(self._master, 65536).decode(errors="replace")
                except OSError:  # the console exited: its side of the pty is gone
                    break
        return self.screen

    def type(self, text: str) -> None:
        os.write(self._master, text.encode())

    def close(self) -> None:
        self.type("\x04")  # Ctrl-D at the start of a line: end of input
        try:
            self._process.wait(timeout=20)
        finally:
            if self._process.poll() is None:
                self._process.kill()
            os.close(self._master)


def test_summarize_a_file_at_a_terminal_prints_the_answer_once(
    stack_env: dict[str, str], worker: Any, tgi: Any, tmp_path: Path
) -> None:
    tgi.reset()
    notes = tmp_path / "notes.txt"
    notes.write_text("Meeting notes. The review moved from Tuesday to Friday because the lab is closed.\n")
    # Models often end with a newline; the final text is stripped, the streamed one was not.
    answer = "The review moved to Friday because the lab is closed."
    tgi.script(answer + "\n\n")
    tgi.set_delays(between_tokens=0.05)  # every token is shown as it comes (the console's interval is shorter)
    terminal = Terminal(stack_env)
    try:
        terminal.read_until(lambda screen: "you> " in screen)
        terminal.type(f"/summarize @{notes}\n")
        # The answer, then the next prompt: the console is done with this line.
        screen = terminal.read_until(lambda s: answer in s and "you> " in s[s.index(answer):])
        terminal.type("/help\n")
        screen = terminal.read_until(lambda s: s.count("you> ") >= 3)
    finally:
        terminal.close()
    assert screen.count(answer) == 1, screen
    assert "moved from Tuesday" in tgi.prompts()[-1]  # the file itself was read
