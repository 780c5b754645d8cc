"""Worker side of the console: answers go to an event log that the console follows.
The console and the worker are separate processes (as a chat platform and a worker are),
so the log is the console's "Web API"."""

from __future__ import annotations

from collections.abc import Sequence

from bots.console.batch import EventBatcher
from core.errors import InputError
from core.jobs import Job
from core.messages import Attachment
from core.panel import Panel
from core.ports import EventLog, PlatformResources

# Lost with a failed batch, these cost nothing: the next update, or the finish, carries the text.
_SKIPPABLE = frozenset({"start", "update"})
# Written with the close that always follows (core/runner.py closes every reply it finished),
# whose wait reports their fault: the final text and the close share one batch.
_OWED = frozenset({"finish"})


class ConsoleResponder:
    max_chars = 100_000  # a terminal has no message limit; keep one so splitting stays bounded
    # The interval only thins the event log (no platform rate): a final text lands at once.
    metered_finish = False

    def __init__(self, *, events: EventBatcher, session: str, job_id: str, update_interval: float) -> None:
        self._events = events
        self._session = session
        self._job_id = job_id
        self.update_interval = update_interval
        self._count = 0

    @property
    def destination(self) -> str:
        return self._session

    def _emit(self, op: str, ref: str = "", text: str = "", *, refs: Sequence[str] | None = None) -> None:
        event = {"job": self._job_id, "op": op, "ref": ref, "text": text}
        # A post is the first text the user sees of its message: it does not wait for a batch.
        # A final text's fault is reported by the close that follows it (bots/console/batch.py).
        durable = op not in _SKIPPABLE and op not in _OWED
        self._events.emit(
            self._session, event, durable=durable, at_once=op == "post", owed=op in _OWED,
            refs={self._job_id: refs} if refs is not None else None,
        )  # fmt: skip

    def start(self) -> None:
        self._emit("start")

    # A terminal has no buttons (``controls`` is ignored): /stop is typed there.
    def post(self, text: str, *, controls: Panel | None = None) -> str:
        self._count += 1
        ref = f"{self._job_id}:{self._count}"
        self._emit("post", ref, text)
        return ref

    def post_with_refs(self, text: str, *, refs: Sequence[str], controls: Panel | None = None) -> str:
        """The post and the job's refs in one transaction (core.ports.PostsWithRefs). The ref
        counts the pieces before it, so a retry that posts more pieces than its first attempt
        never names one as an earlier attempt did."""
        ref = f"{self._job_id}:{len(refs) + 1}"
        self._emit("post", ref, text, refs=[*refs, ref])
        return ref

    def update(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        self._emit("update", ref, text)

    def finish(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        self._emit("finish", ref, text)

    def delete(self, ref: str) -> None:
        self._emit("delete", ref)

    def close(self) -> None:
        self._emit("close")


class ConsoleDelivery:
    def __init__(self, *, events: EventLog, update_interval: float) -> None:
        self._events = EventBatcher(events)  # one per process: every job's events share its round trips
        self._interval = update_interval

    def responder(self, job: Job) -> ConsoleResponder:
        return ConsoleResponder(
            events=self._events, session=job.message.channel, job_id=job.id, update_interval=self._interval
        )

    def fetch_file(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        # Console files travel inside the job; a URL here means a malformed job.
        raise InputError("file_unreadable", name=attachment.name)

    def read_source(self, job: Job) -> str:
        return ""


def create_delivery(resources: PlatformResources) -> ConsoleDelivery:
    return ConsoleDelivery(events=resources.events, update_interval=resources.settings.console_update_interval)
