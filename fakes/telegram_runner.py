"""Runs the real Telegram adapter (bots/telegram/app.py: PTB Application, polling or
webhook) in a background thread with its own event loop, against the fake Bot API."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from bots.telegram.app import TelegramAdapter, build_application, serve
from bots.telegram.config import TelegramConfig
from core.ports import Deduplicator
from core.router import Router


class AdapterRunner:
    def __init__(self, *, config: TelegramConfig, router_for: Callable[[str | None], Router], dedupe: Deduplicator,
                 listen: str = "127.0.0.1") -> None:
        self.config = config
        self.adapter = TelegramAdapter(router_for=router_for, dedupe=dedupe)
        self.application = build_application(config=config, adapter=self.adapter)
        self._listen = listen
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self.menus: dict[str, list[dict[str, Any]]] = {}  # what the fake saw published, for tests

    def start(self, timeout: float = 20.0) -> AdapterRunner:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._stop = asyncio.Event()
            try:
                self._loop.run_until_complete(serve(self.application, adapter=self.adapter, config=self.config,
                                                    listen=self._listen, stop=self._stop, on_started=self._ready.set))
            except BaseException as exc:
                self.error = exc
                self._ready.set()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="telegram-adapter", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the Telegram adapter did not start")
        if self.error is not None:
            raise RuntimeError("the Telegram adapter failed to start") from self.error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
