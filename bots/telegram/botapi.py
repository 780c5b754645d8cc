"""A small synchronous Bot API client for worker threads.

python-telegram-bot's ``Bot`` is asyncio-only. The worker's Responder runs in Celery
threads (hundreds at once), so it calls the Bot API over plain HTTP with one shared,
thread-safe ``httpx.Client`` rather than one event loop per thread (see
docs/decisions.md). Parameters go form-encoded exactly as PTB sends them: strings as they
are, everything else JSON-encoded. Errors become the core's typed errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from core.errors import BadRequest, DeliveryError, Forbidden, RetryAfter, TransientDeliveryError

log = logging.getLogger("tertulia.telegram.botapi")


class EntityParseError(BadRequest):
    """Telegram could not parse the message's entities/markup ("can't parse entities")."""


class NotModified(BadRequest):
    """An edit with the content the message already has; harmless."""


class MethodNotFound(BadRequest):
    """The server does not know the method: a self-hosted Bot API server older than it
    answers 404 "Not Found: method not found" (``TELEGRAM_API_URL``)."""


def _encode(params: dict[str, Any]) -> dict[str, str]:
    return {
        key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in params.items()
        if value is not None
    }


def raise_for_description(status: int, description: str, parameters: dict[str, Any] | None) -> None:
    """Map a Bot API error reply to the core's error tree."""
    lowered = description.lower()
    retry_after = (parameters or {}).get("retry_after")
    if status == 429 or retry_after is not None:
        raise RetryAfter(float(retry_after if retry_after is not None else 1), description)
    if "message is not modified" in lowered:
        raise NotModified(description)
    if "can't parse entities" in lowered or "can't find end of the entity" in lowered:
        raise EntityParseError(description)
    if status == 404 or "method not found" in lowered:
        raise MethodNotFound(description)
    if status in (401, 403):
        raise Forbidden(description)
    if status >= 500:
        raise TransientDeliveryError(description)
    raise BadRequest(description)


class BotApi:
    def __init__(self, *, api_url: str, token: str, timeout: float = 30.0, max_connections: int = 64) -> None:
        root = api_url.rstrip("/")
        # The token is part of every URL: nothing below logs a URL (httpx's own INFO
        # request log is silenced by the delivery factory).
        self._client = httpx.Client(
            base_url=f"{root}/bot{token}/",
            timeout=httpx.Timeout(timeout, pool=timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self._file_base = f"{root}/file/bot{token}/"

    def call(self, method: str, **params: Any) -> Any:
        try:
            response = self._client.post(method, data=_encode(params))
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"{method}: network error {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            if response.status_code >= 500:
                raise TransientDeliveryError(f"{method}: HTTP {response.status_code}") from None
            raise DeliveryError(f"{method}: HTTP {response.status_code}, not JSON") from None
        if body.get("ok"):
            return body.get("result")
        raise_for_description(
            int(body.get("error_code") or response.status_code),
            f"{method}: {body.get('description', '')}",
            body.get("parameters"),
        )

    @contextmanager
    def download(self, file_path: str) -> Iterator[httpx.Response]:
        try:
            with self._client.stream("GET", self._file_base + file_path) as response:
                if response.status_code >= 500:
                    raise TransientDeliveryError(f"file download: HTTP {response.status_code}")
                if response.status_code != 200:
                    raise BadRequest(f"file download: HTTP {response.status_code}")
                yield response
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"file download: network error {type(exc).__name__}") from exc

    def close(self) -> None:
        self._client.close()
