"""The interaction routes of the fake Discord REST server: the callback that acknowledges
an interaction (with ``with_response``) and the webhook routes its token opens: get, edit
and delete the original response or a follow-up, and create follow-ups."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from fakes.discord_model import (
    APPLICATION_ID,
    BODY,
    BOT_USER,
    Interaction,
    check_content,
    error,
    json_response,
)


class InteractionRoutes:
    """Mixed into FakeDiscord, which owns the state these handlers use."""

    interactions: dict[str, Interaction]
    messages: dict[str, dict[str, Any]]
    token_ttl: float
    _lock: threading.Lock

    # FakeDiscord's own message store, which these handlers write through.
    _store_message: Callable[..., dict[str, Any]]
    _edit_message: Callable[[str, dict[str, Any]], dict[str, Any]]

    async def _callback(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = request[BODY] or {}
        with self._lock:
            found = self.interactions.get(token)
            if found is None or found.id != request.match_info["iid"]:
                return error(404, 10062, "Unknown interaction")
            if time.time() - found.created > 3.0 and body.get("type") != 8:
                return error(404, 10062, "Unknown interaction")  # the 3-second window passed
            if found.acked_at is not None:
                return error(400, 40060, "Interaction has already been acknowledged.")
            if int(body.get("type", 0)) in (6, 7) and found.type != 3:  # only a component's message updates
                return error(400, 50035, "Invalid Form Body")
            found.acked_at = time.time()
            found.callback_type = int(body.get("type", 0))
            found.callback_data = body.get("data")
            kind = found.callback_type
            message = None
            if kind in (4, 5):
                data = body.get("data") or {}
                message = self._store_message(
                    found.channel_id, BOT_USER, data.get("content", "") if kind == 4 else "", None,
                    message_id=found.original_id, interaction=found,
                )
                if kind == 5:
                    message["flags"] = int(data.get("flags", 0)) | 128  # LOADING
                else:
                    message["flags"] = int(data.get("flags", 0))  # 64: EPHEMERAL, seen by the clicker alone
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        payload: dict[str, Any] = {
            "interaction": {"id": found.id, "type": found.type, "response_message_loading": kind == 5,
                            "response_message_ephemeral": False},
        }
        if message is not None:
            payload["interaction"]["response_message_id"] = message["id"]
            payload["resource"] = {"type": kind, "message": message}
        elif kind is not None:
            payload["resource"] = {"type": kind}
        return json_response(payload)

    def _webhook_interaction(self, request: web.Request) -> Interaction | web.Response:
        if request.match_info["app"] != APPLICATION_ID:
            return error(404, 10015, "Unknown Webhook")
        found = self.interactions.get(request.match_info["token"])
        if found is None:
            return error(404, 10015, "Unknown Webhook")
        if time.time() - found.created > self.token_ttl:
            return error(401, 50027, "Invalid Webhook Token")
        if found.acked_at is None:
            return error(404, 10015, "Unknown Webhook")
        return found

    def _webhook_message_id(self, found: Interaction, mid: str) -> str | None:
        message_id = found.original_id if mid == "@original" else mid
        if message_id not in self.messages or message_id not in (found.original_id, *found.followups):
            return None
        return message_id

    def _webhook_target(self, request: web.Request) -> tuple[Interaction, str] | web.Response:
        """The interaction and message a webhook route names, or Discord's error for it."""
        found = self._webhook_interaction(request)
        if isinstance(found, web.Response):
            return found
        message_id = self._webhook_message_id(found, request.match_info["mid"])
        if message_id is None:
            return error(404, 10008, "Unknown Message")
        return found, message_id

    async def _webhook_get(self, request: web.Request) -> web.Response:
        with self._lock:
            target = self._webhook_target(request)
            if isinstance(target, web.Response):
                return target
            return json_response(self.messages[target[1]])

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        with self._lock:
            target = self._webhook_target(request)
            if isinstance(target, web.Response):
                return target
            _interaction, message_id = target
            problem = check_content(request[BODY], editing=True, current=self.messages[message_id])
            if problem is not None:
                return problem
            return json_response(self._edit_message(message_id, request[BODY]))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        with self._lock:
            target = self._webhook_target(request)
            if isinstance(target, web.Response):
                return target
            self.messages.pop(target[1])
            return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        with self._lock:
            found = self._webhook_interaction(request)
            if isinstance(found, web.Response):
                return found
            problem = check_content(request[BODY], editing=False, current=None)
            if problem is not None:
                return problem
            message = self._store_message(found.channel_id, BOT_USER, request[BODY]["content"], request[BODY])
            found.followups.append(message["id"])
            message["webhook_id"] = APPLICATION_ID
            return json_response(message)
