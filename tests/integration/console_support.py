"""The console as a test backend: say a line, get the bot's reply, read like a transcript."""

from __future__ import annotations

import io
from typing import Any

from bots.console.app import BOT, ConsoleSession
from bots.console.delivery import stream_key


class Transcript:
    def __init__(self, *, services: Any, router: Any, locale: str | None = None) -> None:
        self.out = io.StringIO()
        self.services = services
        self.session = ConsoleSession(
            services=services, router=router, out=self.out, reply_timeout=60, user="tester", locale=locale
        )

    def say(self, line: str) -> str:
        """The bot's answer to ``line``: everything printed for it, prompts stripped."""
        start = self.out.tell()
        self.session.say(line)
        printed = self.out.getvalue()[start:]
        return printed.replace(BOT, "", 1).strip()

    def submit(self, line: str) -> str:
        """Queues ``line``'s job without waiting; returns the job id."""
        outcome = self.session.submit(line)
        assert outcome.job is not None, outcome
        return outcome.job.id

    def follow(self, job_id: str) -> str:
        start = self.out.tell()
        self.session.follow(job_id)
        return self.out.getvalue()[start:].replace(BOT, "", 1).strip()

    def events(self) -> list[dict[str, str]]:
        """Every delivery event the worker sent this console (post/update/finish/close)."""
        key = stream_key(self.services.settings.key_prefix, self.session.session)
        return [
            {k.decode(): v.decode() for k, v in fields.items()}
            for _id, fields in self.services.redis.xrange(key)
        ]
