"""A local Socket Mode server: Slack's WebSocket envelope and ack format.

Slack sends ``{"type": "hello", ...}`` on connect, then envelopes
``{"envelope_id", "type": "events_api" | "slash_commands" | "interactive", "payload",
"accepts_response_payload", "retry_attempt", "retry_reason"}``; the app answers each with
``{"envelope_id": ..., "payload": {...}?}``. ``apps.connections.open`` on the fake Web API
returns this server's ws:// URL (set ``api.socket_url = server.url``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve


class FakeSlackSocket:
    def __init__(self) -> None:
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._connections: list[ServerConnection] = []
        self._lock = threading.Lock()
        self.acks: dict[str, dict[str, Any]] = {}
        self._ack_event = threading.Condition(self._lock)
        self.connected = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=test-ticket&app_id=A0TEST"

    def start(self, port: int = 0) -> None:
        self._thread = threading.Thread(target=self._run, args=(port,), name="fake-slack-socket", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Socket Mode server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            server = self._server

            async def shutdown() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, port: int) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            self._server = await serve(self._handle, "127.0.0.1", port)
            self.port = next(iter(self._server.sockets)).getsockname()[1]
            self._ready.set()

        loop.run_until_complete(main())
        loop.run_forever()
        loop.close()

    async def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
        await connection.send(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake-slack-socket", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0TEST"},
        }))
        self.connected.set()
        try:
            async for raw in connection:
                data = json.loads(raw)
                if "envelope_id" in data:
                    with self._ack_event:
                        self.acks[data["envelope_id"]] = data
                        self._ack_event.notify_all()
        finally:
            with self._lock:
                self._connections.remove(connection)

    def send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0,
             accepts_response_payload: bool = False) -> str:
        """Deliver one envelope to every connected client; returns its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else "",
        }
        assert self._loop is not None
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            asyncio.run_coroutine_threadsafe(connection.send(json.dumps(envelope)), self._loop).result(timeout=5)
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        with self._ack_event:
            if not self._ack_event.wait_for(lambda: envelope_id in self.acks, timeout=timeout):
                raise AssertionError(f"no ack for envelope {envelope_id} within {timeout}s")
            return self.acks[envelope_id]
