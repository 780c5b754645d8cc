"""Server-Sent Events for the fake servers: ``data: <json>\\n\\n`` per event, as axum's
``Sse`` writes them for TGI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web


class Drop(Exception):
    """Cut the connection now (the close_mid_stream fault)."""


async def open_sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    await response.prepare(request)
    return response


async def send(response: web.StreamResponse, data: dict[str, Any] | str) -> None:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    await response.write(f"data: {payload}\n\n".encode())


def keepalive(response: web.StreamResponse) -> Callable[[], Awaitable[None]]:
    """Writes one SSE comment, as axum's ``KeepAlive`` (TGI's) does after 15 s of silence."""

    async def comment() -> None:
        await response.write(b":\n\n")

    return comment


def drop(request: web.Request) -> None:
    """Abort the TCP connection: the client sees the chunked body end mid-way."""
    if request.transport is not None:
        request.transport.abort()


def error_response(kind: str, message: str, status: int) -> web.Response:
    """TGI's ``ErrorResponse`` body: ``{"error", "error_type"}``."""
    return web.json_response({"error": message, "error_type": kind}, status=status)
