"""A streamed POST on urllib3: TGI's ``/generate_stream``, read as its bytes arrive.

A worker holds hundreds of these at once and reads one chunk per token. Through httpx,
each chunk also passed httpcore's and h11's state machines: about 60% more CPU per stream
than urllib3's chunked reader over ``http.client`` (docs/benchmarks.md, round 5). The short
JSON calls (``/info``, ``/tokenize``, ``/health``) stay on huggingface_hub's shared session.

Connections are kept alive per endpoint; a stream that ends early (a stop, a stall, an
error) closes its connection instead of handing back one with unread bytes. A proxy named
in the environment (``HTTPS_PROXY``, ``NO_PROXY``...) is honoured as httpx did.
"""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import urllib3

_CHUNK = 65536


class ErrorReply:
    """An error status and its body, as ``worker.llm.errors.http_error`` reads a response."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        self.status_code = status
        self.reason_phrase = reason
        self._body = body

    def json(self) -> Any:
        return json.loads(self._body)


class StreamedPost:
    """One endpoint's connections for streamed POSTs. Safe to share between threads and
    greenlets: urllib3's pool hands each request its own connection."""

    def __init__(self, base_url: str, *, max_connections: int) -> None:
        proxy = _proxy_for(base_url)
        options: dict[str, Any] = {"maxsize": max_connections, "block": False, "retries": False}
        # Without a proxy, the endpoint's own connection pool: a PoolManager would parse the URL
        # and look the pool up again for every stream.
        self._pool: urllib3.PoolManager | urllib3.HTTPConnectionPool = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.connection_from_url(base_url, **options)
        )

    @contextlib.contextmanager
    def post(
        self, url: str, *, body: Mapping[str, Any], headers: Mapping[str, str], connect: float, read: float
    ) -> Iterator[urllib3.HTTPResponse]:
        """The response, headers read and body not yet; ``read`` bounds each socket read.
        A body read to its end hands the connection to the next stream; leaving the block
        before that closes it (the server sees the client go and cancels the generation)."""
        response: Any = self._pool.urlopen(
            "POST",
            url if isinstance(self._pool, urllib3.PoolManager) else _path_of(url),
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "text/event-stream", **headers},
            timeout=urllib3.Timeout(connect=connect, read=read),
            preload_content=False,
            redirect=False,
        )
        try:
            yield response
        finally:
            if not response.closed:  # unread bytes: this connection can't serve another request
                response.close()
            response.release_conn()


def chunks(response: urllib3.HTTPResponse) -> Iterator[bytes]:
    """The body's bytes as they arrive: a chunk at a time when chunked (TGI's SSE), else
    whatever one socket read returns (a close-delimited stream must not wait for a full buffer).
    Read it to its end: urllib3 closes the connection of a chunked read left half-way."""
    if response.chunked and response.supports_chunked_reads():
        yield from response.read_chunked(_CHUNK)
        return
    while data := response.read1(_CHUNK):
        yield data


def error_reply(response: urllib3.HTTPResponse) -> ErrorReply:
    """The first 64 KB of an error body are enough for its reason (a proxy's page can be larger)."""
    return ErrorReply(response.status, response.reason or "", response.read(_CHUNK))


def socket_of(response: urllib3.HTTPResponse) -> socket.socket | None:
    """The stream's socket, for its token watch (worker/llm/watch.py)."""
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"


def _proxy_for(base_url: str) -> str | None:
    parts = urlsplit(base_url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)
