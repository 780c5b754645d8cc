"""A small synchronous Discord REST client for the worker side (httpx).

The worker edits interaction responses and posts channel messages without a gateway
connection, from Celery threads, so it uses plain HTTP rather than discord.py's asyncio
client. Errors map onto core.errors so that the shared throttle can react by type.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from core.errors import BadRequest, Forbidden, RetryAfter, TransientDeliveryError

log = logging.getLogger("tertulia.discord.rest")

_WEBHOOK_TOKEN = re.compile(r"(/webhooks/\d+/)[^/\s?\"]+")


class _HideWebhookTokens(logging.Filter):
    """httpx logs every request URL at INFO; an interaction's URL holds its token (a
    credential for 15 minutes), so the token is masked before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/webhooks/" in message:
            record.msg = _WEBHOOK_TOKEN.sub(r"\1***", message)
            record.args = ()
        return True


logging.getLogger("httpx").addFilter(_HideWebhookTokens())

USER_AGENT = "DiscordBot (https://github.com/tertulia/tertulia, 0.1)"


class DiscordBadRequest(BadRequest):
    """A 4xx that retrying cannot fix; ``code`` is Discord's JSON error code (0 if none)."""

    def __init__(self, message: str, *, status: int, code: int) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class DiscordForbidden(Forbidden):
    def __init__(self, message: str, *, status: int, code: int) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def retry_after_of(response: httpx.Response) -> float:
    """Seconds to wait from a 429: the JSON ``retry_after`` (float, precise) first, else
    the ``Retry-After`` header, else one second."""
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("retry_after") is not None:
            return max(float(body["retry_after"]), 0.0)
    except ValueError:
        pass
    header = response.headers.get("Retry-After")
    try:
        return max(float(header), 0.0) if header else 1.0
    except ValueError:
        return 1.0


def raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        raise RetryAfter(retry_after_of(response), "discord rate limited")
    if status >= 500:
        raise TransientDeliveryError(f"discord {status}")
    code = 0
    message = response.reason_phrase
    try:
        body = response.json()
        if isinstance(body, dict):
            code = int(body.get("code") or 0)
            message = str(body.get("message") or message)
    except ValueError:
        pass
    text = f"discord {status} ({code}): {message}"
    if status in (401, 403):
        raise DiscordForbidden(text, status=status, code=code)
    raise DiscordBadRequest(text, status=status, code=code)


class DiscordRest:
    """``base_url`` is the API root including the version (DISCORD_API_URL). The bot
    token goes only to that host, and only on routes that need it: interaction webhooks
    are authorised by their token in the path, CDN attachment URLs by their signature."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._client = httpx.Client(
            transport=transport,  # tests pass httpx.MockTransport: the network boundary
            timeout=httpx.Timeout(timeout, connect=5.0),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
        auth: bool = True,
    ) -> Any:
        headers: dict[str, str] = {}
        if auth:
            if not self._token:
                raise DiscordForbidden("DISCORD_BOT_TOKEN is not set", status=401, code=0)
            headers["Authorization"] = f"Bot {self._token}"
        try:
            response = self._client.request(method, self._base + path, json=json, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"discord unreachable: {type(exc).__name__}") from exc
        raise_for(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def download(self, url: str, *, max_bytes: int) -> bytes | None:
        """The file's bytes, or None when it is larger than ``max_bytes`` (checked from
        Content-Length first, then while reading, so an oversized file is never held)."""
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()  # the error body names the reason
                    raise_for(response)
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    return None
                data = bytearray()
                for chunk in response.iter_bytes():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        return None
                return bytes(data)
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"attachment download failed: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._client.close()
