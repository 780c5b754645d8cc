"""An aiohttp application served on loopback from a background event loop, so that a
fake platform runs beside synchronous test code (and the code under test)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class BackgroundApp:
    def __init__(self, *, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: web.Application, *, port: int, host: str = "127.0.0.1", access_log: bool = True) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            self._runner = web.AppRunner(app) if access_log else web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, host, port).start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = 10) -> T:
        """Runs ``coroutine`` on the server's loop and waits for its result."""
        assert self.loop is not None, f"{self.name} is not running"
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, *, before: Callable[[], Awaitable[None]] | None = None) -> None:
        """``before`` runs on the loop first (closing WebSockets, say)."""
        loop, runner = self.loop, self._runner
        if loop is None or runner is None:
            return

        async def shutdown() -> None:
            if before is not None:
                await before()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self.loop = self._runner = None
