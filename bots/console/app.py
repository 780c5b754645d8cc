"""`tertulia console`: a local chat channel in the terminal.

Each line takes the production path: router -> job in Redis -> Celery worker -> model ->
the worker's responder -> a Redis stream -> printed here as it streams. With stdin piped it
answers one line at a time and exits at EOF once every reply is done.
"""

from __future__ import annotations

import argparse
import getpass
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.commands import parse_line
from core.messages import Attachment, InboundMessage
from core.ports import EventLog
from core.router import Outcome, Router
from core.table import find_spec

PROMPT = "you> "
BOT = "tertulia> "


class ConsoleSession:
    def __init__(
        self,
        *,
        router: Router,
        events: EventLog,
        max_attachment_bytes: int,
        out: TextIO,
        reply_timeout: float,
        user: str,
        locale: str | None,
        stream: bool = True,
        typed: Callable[[], str | None] | None = None,
    ) -> None:
        """``stream``: show answers as they grow (a person at a terminal); otherwise print
        each message once, final (a script reading stdout: one reply per line it sent).
        ``typed``: a line typed while an answer streams, if any (never waits); ``/stop``
        then stops that answer, and any other line waits its turn in ``backlog``."""
        self._stream = stream
        self._typed = typed
        self.backlog: list[str] = []
        self._router = router
        self._events = events
        self._max_attachment_bytes = max_attachment_bytes
        self._out = out
        self._timeout = reply_timeout
        self._user = user
        self._locale = locale
        self.session = uuid.uuid4().hex[:12]
        self._last_id = "0-0"

    def message(self, text: str) -> InboundMessage:
        attachments: tuple[Attachment, ...] = ()
        stripped = text.strip()
        line = parse_line(stripped)
        spec = find_spec(line.name) if line is not None else find_spec("chat")  # plain text is chat
        if spec is not None and spec.takes_files:
            stripped, attachments = self._local_files(stripped, command=line is not None)
        return InboundMessage(
            platform="console",
            workspace="local",
            channel=self.session,
            user=self._user,
            user_name=self._user,
            locale=self._locale,
            text=stripped,
            addressed=True,  # everything typed here is meant for the bot
            attachments=attachments,
        )

    def _local_files(self, line: str, *, command: bool) -> tuple[str, tuple[Attachment, ...]]:
        """`/summarize @notes.pdf` stands in for an upload (for every command that takes
        files): the file travels in the job. In plain chat only a word naming an existing
        file is one (``@ana`` may be a person)."""
        words = line.split()
        first, words = (words[:1], words[1:]) if command else ([], words)

        def is_file(word: str) -> bool:
            return word.startswith("@") and len(word) > 1 and (command or Path(word[1:]).expanduser().is_file())

        files = [w[1:] for w in words if is_file(w)]
        rest = [w for w in words if not is_file(w)]
        attachments = []
        for name in files:
            path = Path(name).expanduser()
            size = path.stat().st_size if path.is_file() else 0
            limit = self._max_attachment_bytes
            content = path.read_bytes() if path.is_file() and size <= limit else b""
            attachments.append(Attachment(name=path.name, size=size if path.is_file() else 0, content=content))
            if not path.is_file():
                self._out.write(f"{BOT}No such file: {name}\n")
        return " ".join([*first, *rest]), tuple(a for a in attachments if a.size or a.content)

    def say(self, text: str) -> None:
        """Sends a line and prints its reply, streamed, before returning."""
        outcome = self.submit(text)
        if outcome.reply is not None:
            self._out.write(f"{BOT}{outcome.reply}\n")
            self._out.flush()
        elif outcome.job is not None:
            self.follow(outcome.job.id)

    def submit(self, text: str) -> Outcome:
        """Sends a line without waiting for its job (scripts may queue several)."""
        return self._router.handle(self.message(text))

    def follow(self, job_id: str) -> None:
        """Prints the job's messages as they stream, until the worker closes the job."""
        shown: dict[str, str] = {}
        current: str | None = None
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            self._take_typed()
            for entry_id, event in self._events.read(self.session, after=self._last_id, block_seconds=0.2):
                self._last_id = entry_id
                if event["job"] != job_id:
                    continue
                if event["op"] == "close":
                    if current is not None:
                        self._out.write("\n")
                    self._out.flush()
                    return
                if event["op"] == "finish" and not self._stream:
                    self._out.write(f"{BOT}{event['text']}\n")
                elif event["op"] in ("post", "update", "finish") and self._stream:
                    current = self._render(shown, current, event["ref"], event["text"])
        self._out.write(f"\n{BOT}(no answer within {self._timeout:.0f}s; is a worker running?)\n")
        self._out.flush()

    def _take_typed(self) -> None:
        """Lines typed while an answer streams: /stop ends the answer now (its text so far
        stays, marked); anything else is answered after it."""
        while self._typed is not None and (line := self._typed()) is not None:
            parsed = parse_line(line.strip())
            if parsed is not None and find_spec(parsed.name) is find_spec("stop"):
                self.submit(line)  # the answer itself shows that it stopped
            else:
                self.backlog.append(line)

    def _render(self, shown: dict[str, str], current: str | None, ref: str, text: str) -> str:
        before = shown.get(ref)
        if ref != current:
            if current is not None:
                self._out.write("\n")
            self._out.write(BOT)
            before = ""
        if before is not None and text.startswith(before):
            self._out.write(text[len(before) :])
        elif before is not None and text.strip().startswith(before.strip()):
            # The final text is the streamed text stripped (core.work.JobWork.generate): the
            # model's trailing newline or leading space is gone. The terminal shows it
            # already, so only what follows is new; printing it whole again showed the
            # answer twice.
            self._out.write(text.strip()[len(before.strip()) :])
        else:  # an edit that rewrote earlier text: show the message again whole
            self._out.write(f"\n{BOT}{text}")
        shown[ref] = text
        self._out.flush()
        return ref


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tertulia console", description=__doc__)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one reply")
    parser.add_argument("--locale", default=os.environ.get("LANG", "en").split(".")[0])
    return parser


def main(
    argv: list[str],
    *,
    router: Router,
    events: EventLog,
    max_attachment_bytes: int,
    outage: Callable[[BaseException, str | None], str | None],
) -> int:
    """Runs the console with what the composition root (tertulia/cli.py) hands it.
    ``outage`` says in one line that the store is down (None: not an outage)."""
    args = build_parser().parse_args(argv)
    interactive = sys.stdin.isatty()
    # Bytes that are not UTF-8 (a Latin-1 terminal) become U+FFFD: kept as lone surrogates
    # they would fail every JSON body the worker sends; under strict decoding, the read.
    sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]
    # One reader thread, so that a line typed while an answer streams (/stop) is seen then.
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(lines, interactive), name="console-stdin", daemon=True).start()

    ended = threading.Event()  # the reader's end-of-input, once taken from the queue

    def typed() -> str | None:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return None
        if line is None:
            ended.set()
        return line

    session = ConsoleSession(
        router=router,
        events=events,
        max_attachment_bytes=max_attachment_bytes,
        out=sys.stdout,
        reply_timeout=args.timeout,
        user=getpass.getuser(),
        locale=args.locale,
        stream=interactive,
        typed=typed,
    )
    if interactive:
        print("tertulia console: /help for commands, /stop to stop an answer, Ctrl-D to quit.")
    while True:
        if session.backlog:
            line: str | None = session.backlog.pop(0)
        elif ended.is_set():
            break
        else:
            if interactive:
                print(PROMPT, end="", flush=True)
            try:
                line = lines.get()
            except KeyboardInterrupt:
                print()
                continue
        if line is None:  # end of input
            break
        if line.strip():
            try:
                session.say(line.rstrip("\n"))
            except KeyboardInterrupt:  # stop waiting for this reply, keep the console
                print()
            except Exception as err:
                said = outage(err, args.locale)
                if said is None:
                    raise
                print(f"{BOT}{said}", flush=True)  # one line, not a traceback
    if interactive:
        print()
    return 0


def _read_lines(lines: queue.Queue[str | None], interactive: bool) -> None:
    """Every line of stdin, then None at its end."""
    while True:
        try:
            line = input() if interactive else sys.stdin.readline()
        except EOFError:
            break
        except Exception:  # a closed or broken stdin ends the session like an EOF
            break
        if not interactive and line == "":
            break
        lines.put(line)
    lines.put(None)
