"""A stall is time without a token, not time without a byte.

TGI sends an SSE comment (``:``) after 15 s of silence, and any byte resets httpx's read
timeout, so a stalled generation behind keep-alives never times out on its own. Here each
generation arms a ``TokenWatch``; the client calls ``tick()`` for every event that carries
a token. One watchdog thread per process looks at every armed watch, and when one passes
its deadline it shuts the stream's socket down, which ends the blocked read at once in the
thread that owns it (that thread then raises ``ModelStalled`` and cleans up as for any
broken stream). The socket comes from the response through an httpx event hook on the
shared session (``response.extensions["network_stream"]``).
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

_IDLE_WAKE = 1.0  # the watchdog's longest sleep when no deadline is nearer


class TokenWatch:
    """The deadline of one streamed generation: ``first`` seconds for the first token,
    then ``between`` seconds after each token."""

    def __init__(self, *, first: float, between: float) -> None:
        self.between = between
        self.deadline = time.monotonic() + first
        self.fired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def tick(self) -> None:
        """A token arrived: the stream is the one we watch, whatever this thread asks next."""
        self.deadline = time.monotonic() + self.between
        if getattr(_armed, "watch", None) is self:
            _armed.watch = None

    def pause(self) -> None:
        """The generator is suspended at a ``yield``: until ``resume`` the time is the
        caller's (a chat platform's rate limit, say), not the server's. Two plain calls, not a
        context manager: this runs for every token. A generator closed at its ``yield`` never
        resumes, and needs not: ``watching`` disarms its watch on the way out."""
        self.deadline = math.inf

    def resume(self) -> None:
        self.deadline = time.monotonic() + self.between

    def attach(self, response: Any) -> None:
        """An httpx response's socket (the OpenAI-compatible client's streams)."""
        stream = response.extensions.get("network_stream")
        self.attach_socket(stream.get_extra_info("socket") if stream is not None else None)

    def attach_socket(self, sock: object) -> None:
        if isinstance(sock, socket.socket):
            with self._lock:
                self._socket = sock

    def fire(self) -> bool:
        """Cut the stream (once). False while there is no socket to cut yet: until the
        response headers arrive, httpx's own read timeout bounds the wait."""
        with self._lock:
            if self.fired or self._socket is None:
                return self.fired
            self.fired = True
            sock, self._socket = self._socket, None
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also for TLS: the reading thread sees EOF.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        return True

    def detach(self) -> None:
        with self._lock:
            self._socket = None


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._watches: set[TokenWatch] = set()
        self._thread: threading.Thread | None = None

    def add(self, watch: TokenWatch) -> None:
        with self._lock:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tertulia-token-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, watch: TokenWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            with self._lock:
                watches = list(self._watches)
            nearest = now + _IDLE_WAKE
            for watch in watches:
                deadline = watch.deadline
                if deadline <= now:
                    if watch.fire():
                        self.remove(watch)
                    else:
                        nearest = min(nearest, now + 0.05)  # armed before its socket: look again soon
                else:
                    nearest = min(nearest, deadline)
            self._wake.wait(max(nearest - time.monotonic(), 0.005))
            self._wake.clear()


_watchdog = _Watchdog()
_armed = threading.local()


@contextlib.contextmanager
def watching(*, first: float, between: float) -> Iterator[TokenWatch]:
    """Arms a watch for the generation streamed inside the block, in this thread."""
    watch = TokenWatch(first=first, between=between)
    _armed.watch = watch
    _watchdog.add(watch)
    try:
        yield watch
    finally:
        _armed.watch = None
        _watchdog.remove(watch)
        watch.detach()


def attach_response(response: Any) -> None:
    """httpx response hook of the shared session: hands a streamed response's socket to
    the watch armed in this thread, if any (every other request passes untouched)."""
    watch: TokenWatch | None = getattr(_armed, "watch", None)
    if watch is not None:
        watch.attach(response)
