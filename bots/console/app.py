"""`tertulia console`: a local chat channel in the terminal.

Each line takes the production path: router -> job in Redis -> Celery worker -> model ->
the worker's responder -> a Redis stream -> printed here as it streams. With stdin piped it
answers one line at a time and exits at EOF once every reply is done.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
import uuid
from pathlib import Path
from typing import TextIO

import redis
from kombu.exceptions import OperationalError

from bots.console.delivery import stream_key
from core import catalogue
from core.messages import Attachment, InboundMessage
from core.router import Outcome, Router
from tertulia.bootstrap import Services, build_router, build_services
from tertulia.up import redact

PROMPT = "you> "
BOT = "tertulia> "


class ConsoleSession:
    def __init__(
        self,
        *,
        services: Services,
        router: Router,
        out: TextIO,
        reply_timeout: float,
        user: str,
        locale: str | None,
        stream: bool = True,
    ) -> None:
        """``stream``: show answers as they grow (a person at a terminal); otherwise print
        each message once, final (a script reading stdout: one reply per line it sent)."""
        self._stream = stream
        self._services = services
        self._router = router
        self._out = out
        self._timeout = reply_timeout
        self._user = user
        self._locale = locale
        self.session = uuid.uuid4().hex[:12]
        self._key = stream_key(services.settings.key_prefix, self.session)
        self._last_id = "0-0"

    def message(self, text: str) -> InboundMessage:
        attachments: tuple[Attachment, ...] = ()
        stripped = text.strip()
        if stripped.startswith(("/summarize", "/summarise")):
            stripped, attachments = self._local_files(stripped)
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

    def _local_files(self, line: str) -> tuple[str, tuple[Attachment, ...]]:
        """`/summarize @notes.pdf` stands in for an upload: the file travels in the job."""
        words = line.split()
        files = [w[1:] for w in words[1:] if w.startswith("@") and len(w) > 1]
        rest = [w for w in words[1:] if not (w.startswith("@") and len(w) > 1)]
        attachments = []
        for name in files:
            path = Path(name).expanduser()
            size = path.stat().st_size if path.is_file() else 0
            limit = self._services.settings.max_attachment_bytes
            content = path.read_bytes() if path.is_file() and size <= limit else b""
            attachments.append(Attachment(name=path.name, size=size if path.is_file() else 0, content=content))
            if not path.is_file():
                self._out.write(f"{BOT}No such file: {name}\n")
        return " ".join([words[0], *rest]), tuple(a for a in attachments if a.size or a.content)

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
        redis = self._services.redis
        while time.monotonic() < deadline:
            batches = redis.xread({self._key: self._last_id}, block=500, count=100)
            for _stream, entries in batches or []:
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    event = {k.decode(): v.decode() for k, v in fields.items()}
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

    def _render(self, shown: dict[str, str], current: str | None, ref: str, text: str) -> str:
        before = shown.get(ref)
        if ref != current:
            if current is not None:
                self._out.write("\n")
            self._out.write(BOT)
            before = ""
        if before is not None and text.startswith(before):
            self._out.write(text[len(before) :])
        else:  # an edit that rewrote earlier text: show the message again whole
            self._out.write(f"\n{BOT}{text}")
        shown[ref] = text
        self._out.flush()
        return ref


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tertulia console", description=__doc__)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one reply")
    parser.add_argument("--locale", default=os.environ.get("LANG", "en").split(".")[0])
    args = parser.parse_args(argv)
    services = build_services()
    session = ConsoleSession(
        services=services,
        router=build_router(services),
        out=sys.stdout,
        reply_timeout=args.timeout,
        user=getpass.getuser(),
        locale=args.locale,
        stream=sys.stdin.isatty(),
    )
    interactive = sys.stdin.isatty()
    if interactive:
        print("tertulia console: /help for commands, Ctrl-D to quit.")
    while True:
        try:
            line = input(PROMPT) if interactive else sys.stdin.readline()
        except EOFError:
            break
        except KeyboardInterrupt:
            print()
            continue
        if not interactive and line == "":
            break
        if line.strip():
            try:
                session.say(line.rstrip("\n"))
            except KeyboardInterrupt:  # stop waiting for this reply, keep the console
                print()
            except (redis.RedisError, OperationalError) as err:  # one line, not a traceback
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                url = redact(services.settings.redis_url)
                print(f"{BOT}{catalogue.text('store_unreachable', args.locale, url=url, reason=reason)}", flush=True)
    if interactive:
        print()
    return 0
