"""The console as a test backend: say a line, get the bot's reply, read like a transcript."""

from __future__ import annotations

import io
from typing import Any

from bots.console.app import ConsoleSession


class Transcript:
    def __init__(
        self, *, services: Any, router: Any, locale: str | None = None, user: str = "tester", reply_timeout: float = 60
    ) -> None:
        self.out = io.StringIO()
        self.services = services
        self.session = ConsoleSession(
            router=router, events=services.events, max_attachment_bytes=services.settings.max_attachment_bytes,
            out=self.out, reply_timeout=reply_timeout, user=user, locale=locale,
        )

    def say(self, line: str) -> str:
        """The bot's answer to ``line`` as the chat finally shows it: an immediate reply, or
        the final text of each message the job left (streamed and edited on the way)."""
        outcome = self.session.submit(line)
        if outcome.job is None:
            return (outcome.reply or "").strip()
        return self.follow(outcome.job.id)

    def submit(self, line: str) -> str:
        """Queues ``line``'s job without waiting; returns the job id."""
        outcome = self.session.submit(line)
        assert outcome.job is not None, outcome
        return outcome.job.id

    def follow(self, job_id: str) -> str:
        self.session.follow(job_id)
        final: dict[str, str] = {}
        for event in self.events():
            if event["job"] == job_id and event["op"] == "finish":
                final[event["ref"]] = event["text"]
            elif event["job"] == job_id and event["op"] == "delete":
                final.pop(event["ref"], None)
        return "\n".join(final.values()).strip()

    def printed(self) -> str:
        """Everything the terminal showed, prompts included."""
        return self.out.getvalue()

    def events(self) -> list[dict[str, str]]:
        """Every delivery event the worker sent this console (post/update/finish/close)."""
        found: list[dict[str, str]] = []
        after = "0-0"
        while batch := self.services.events.read(self.session.session, after=after, block_seconds=0.001):
            found.extend(event for _id, event in batch)
            after = batch[-1][0]
        return found
