"""HTTP mode: ``POST /slack/events`` served by aiohttp, each request dispatched to the
(synchronous) bolt App in a thread pool. Bolt verifies the v0 signature and its 5-minute
window and answers 401 itself; commands, events, shortcuts and interactivity share the path."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from slack_bolt import App, BoltRequest

log = logging.getLogger("tertulia.slack.http")

EVENTS_PATH = "/slack/events"
DISPATCH_THREADS = 32
MAX_BODY_BYTES = 1024 * 1024  # Slack payloads are small; refuse anything huge before verifying


class HttpServer:
    """Runs in its own thread with its own event loop, so the CLI and tests drive it alike."""

    def __init__(self, *, app: App, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self.port = port
        self._executor = ThreadPoolExecutor(max_workers=DISPATCH_THREADS, thread_name_prefix="slack-http")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="slack-http", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            raise RuntimeError(f"Slack HTTP server failed to start: {self._error}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._executor.shutdown(wait=True, cancel_futures=False)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _serve(self) -> None:
        application = web.Application(client_max_size=MAX_BODY_BYTES)
        application.router.add_post(EVENTS_PATH, self._events)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self.port)
        await site.start()
        log.info("Slack HTTP mode listening on %s:%s%s", self._host, self.port, EVENTS_PATH)

    async def _events(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers: dict[str, str | Sequence[str]] = {}
        for key, value in request.headers.items():
            previous = headers.get(key.lower())
            headers[key.lower()] = [*previous, value] if isinstance(previous, list) else [value]
        bolt_request = BoltRequest(body=body.decode("utf-8"), query=request.query_string, headers=headers)
        loop = asyncio.get_running_loop()
        # Bolt returns as soon as the listener calls ack() (it runs the rest in its own
        # executor), so this holds a thread only for the ack window.
        response = await loop.run_in_executor(self._executor, self._app.dispatch, bolt_request)
        return web.Response(
            status=response.status, body=response.body, headers=response.first_headers_without_set_cookie()
        )
