"""Streaming an answer into chat under a shared rate budget.

Intermediate updates are coalesced: when the destination's budget has no slot, the update
is skipped and the next one carries the latest text. Final texts always land: they wait for
a slot, honour Retry-After, and retry transient faults.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from core.errors import DeliveryError, RetryAfter, TransientDeliveryError
from core.panel import Panel
from core.ports import PostsWithRefs, RateBudget, Responder
from core.splitter import split_message

log = logging.getLogger("tertulia.delivery")

# What a stale piece shows where the platform cannot delete it (language-neutral).
STALE_MARKER = "(…)"
FINAL_ATTEMPTS = 30  # a final text survives this many 429s / transient faults in a row
TRANSIENT_BACKOFF = 1.0


class StreamingReply:
    def __init__(
        self,
        *,
        responder: Responder,
        budget: RateBudget,
        budget_key: str,
        refs: list[str] | None = None,
        on_refs: Callable[[list[str]], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        streaming_panel: Panel | None = None,
    ) -> None:
        self._responder = responder
        self._budget = budget
        self._key = budget_key
        self._refs: list[str] = list(refs or [])
        self._final: dict[int, tuple[str, Panel | None]] = {}
        # The controls the newest piece shows while the answer grows (Stop); earlier pieces none.
        self._streaming_panel = streaming_panel
        self._on_refs = on_refs
        self._sleep = sleep
        self._clock = clock
        self._quiet_until = 0.0  # no budget look-up before this: the per-token path stays local
        self._fed = ""  # the answer so far, as last fed
        # A responder whose interval is ours, not its platform's (the console's event log), lets
        # the final text replace the last update at once instead of waiting out the interval.
        self._metered_finish = bool(getattr(responder, "metered_finish", True))
        # Not isinstance: a runtime-checkable Protocol's check costs more than the rest of this
        # constructor, once per job.
        self._posts_with_refs = callable(getattr(responder, "post_with_refs", None))
        self.rate_limit_waits: list[float] = []  # each 429's Retry-After, for metrics

    @property
    def refs(self) -> list[str]:
        return list(self._refs)

    def start(self) -> None:
        try:
            self._responder.start()
        except Exception:  # a typing indicator is never worth failing a job for
            log.warning("start indicator failed", exc_info=True)

    def feed(self, text: str) -> None:
        """The answer so far. Cheap when the budget is spent: nothing is sent."""
        if not text.strip():
            return
        self._fed = text
        chunks = [text]
        if len(text) > self._responder.max_chars:
            chunks = split_message(text, self._responder.max_chars)
            for index, chunk in enumerate(chunks[:-1]):
                self._land(index, chunk)
        now = self._clock()
        if now < self._quiet_until:
            return
        wait = self._budget.try_acquire(self._key, self._responder.update_interval)
        if wait > 0:
            self._quiet_until = now + wait
            return
        try:
            self._show(len(chunks) - 1, chunks[-1], self._streaming_panel)
        except RetryAfter as err:
            self.rate_limit_waits.append(err.seconds)
            self._budget.penalize(self._key, err.seconds)
        except TransientDeliveryError:
            log.warning("intermediate update failed; the next one carries the text", exc_info=True)

    def finish(self, text: str, *, panel: Panel | None = None) -> None:
        """The whole answer: every piece lands, in order (the last with ``panel``); then
        every piece beyond it (left by an attempt that was longer, or by an answer an error
        replaced) is removed, last first, and the job's stored refs shrink with each."""
        chunks = split_message(text, self._responder.max_chars)
        for index, chunk in enumerate(chunks):
            self._land(index, chunk, panel if index == len(chunks) - 1 else None)
        while len(self._refs) > len(chunks):
            ref = self._refs[-1]
            try:
                self._deliver(functools.partial(self._responder.delete, ref))
            except DeliveryError:  # the answer itself landed; a leftover piece must not fail it
                log.warning("a stale piece could not be removed", exc_info=True)
            self._refs.pop()
            self._final.pop(len(self._refs), None)
            if self._on_refs is not None:
                self._on_refs(list(self._refs))

    def notice(self, line: str) -> None:
        """``line`` after the answer so far, shown now: the user must hear that the model
        stalled and the job will try again, even when the budget is busy (it waits for a
        slot, as a final text does). A delivery fault here is logged, never raised: the
        retry will deliver the answer itself."""
        text = f"{self._fed.rstrip()}\n\n{line}" if self._fed.strip() else line
        try:
            chunks = split_message(text, self._responder.max_chars)
            for index, chunk in enumerate(chunks[:-1]):
                self._land(index, chunk)
            self._deliver(lambda: self._show(len(chunks) - 1, chunks[-1], self._streaming_panel))
        except Exception:
            log.warning("the retry notice could not be shown", exc_info=True)

    def close(self) -> None:
        self._responder.close()

    def _show(self, index: int, text: str, panel: Panel | None = None) -> None:
        if index < len(self._refs):
            self._responder.update(self._refs[index], text, controls=panel)
        elif self._posts_with_refs:  # the post stores the refs itself, in the same write
            poster: PostsWithRefs = self._responder  # type: ignore[assignment]
            self._refs.append(poster.post_with_refs(text, refs=tuple(self._refs), controls=panel))
        else:
            self._refs.append(self._responder.post(text, controls=panel))
            if self._on_refs is not None:
                self._on_refs(list(self._refs))

    def _land(self, index: int, text: str, panel: Panel | None = None) -> None:
        if self._final.get(index) == (text, panel):
            return

        def land() -> None:
            if index >= len(self._refs):
                self._show(index, text)
            self._responder.finish(self._refs[index], text, controls=panel)

        self._deliver(land, metered=self._metered_finish)
        self._final[index] = (text, panel)

    def _deliver(self, send: Callable[[], None], *, metered: bool = True) -> None:
        """``send`` once a budget slot is free (at once when not ``metered``), through 429s
        and transient faults."""
        for attempt in range(FINAL_ATTEMPTS):
            wait = self._budget.try_acquire(self._key, self._responder.update_interval) if metered else 0.0
            if wait > 0:
                self._sleep(wait)
                continue
            try:
                send()
            except RetryAfter as err:
                self.rate_limit_waits.append(err.seconds)
                self._budget.penalize(self._key, err.seconds)
                self._sleep(err.seconds)
                continue
            except TransientDeliveryError:
                self._sleep(TRANSIENT_BACKOFF * (attempt + 1))
                continue
            return
        raise TransientDeliveryError(f"could not deliver the final text after {FINAL_ATTEMPTS} attempts")
