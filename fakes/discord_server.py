"""A Discord REST server of our own, faithful to the parts Tertulia and discord.py use.

Routes live under ``/api/v10`` as on discord.com (DISCORD_API_URL points here); attachment
downloads under ``/attachments/...`` as on the CDN. Shapes follow the Discord developer
docs: interaction callback with ``with_response`` (``interaction`` + ``resource``), the
webhook routes of an interaction token (edit original, follow-ups), channel messages with
``message_reference``, bulk command overwrite (PUT), and 429 bodies with ``retry_after``
plus the ``Retry-After`` / ``X-RateLimit-*`` headers. Every call is recorded.

Run it with ``FakeDiscord().start(port)``; it serves from a background thread.
"""


from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

from aiohttp import web

from fakes.discord_model import (
    API,
    APPLICATION_ID,
    BODY,
    BOT_TOKEN,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    TOKEN_TTL,
    Call,
    Fault,
    Interaction,
    check_content,
    content_type,
    error,
    fault_response,
    iso_now,
    json_response,
    snowflake,
    user_payload,
)
from fakes.discord_webhooks import InteractionRoutes
from fakes.loopback import BackgroundApp

__all__ = [
    "API", "APPLICATION_ID", "BOT_TOKEN", "BOT_USER", "CHANNEL_ID", "GUILD_ID", "FakeDiscord", "iso_now",
    "snowflake", "user_payload",
]


class FakeDiscord(InteractionRoutes):
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, dict[str, Any]] = {}  # id -> message payload (latest)
        self.history: dict[str, list[str]] = {}  # message id -> every content it had, in order
        self.channels: dict[str, list[str]] = {}  # channel id -> message ids, oldest first
        self.interactions: dict[str, Interaction] = {}  # by token
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> commands
        self.attachments: dict[str, bytes] = {}
        self.gateway_url = "ws://127.0.0.1:0/"
        self.token_ttl = TOKEN_TTL
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = BackgroundApp(name="fake-discord")
        self.base_url = ""

    # --- control API -----------------------------------------------------------------

    def start(self, port: int) -> None:
        self._server.start(self._app(), port=port)
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._faults.clear()
            self.token_ttl = TOKEN_TTL

    def fail(
        self, method: str, path_regex: str, *, status: int = 429, retry_after: float = 1.0,
        scope: str = "user", times: int = 1, skip: int = 0,
    ) -> None:
        """After ``skip`` matching requests, the next ``times`` get ``status`` (429: with
        retry_after)."""
        with self._lock:
            self._faults.append(Fault(method, re.compile(path_regex), status, retry_after, scope, times, skip))

    def register_interaction(
        self, *, interaction_id: str, token: str, channel_id: str, guild_id: str | None, kind: int = 2,
        message_id: str | None = None,
    ) -> None:
        with self._lock:
            self.interactions[token] = Interaction(
                id=interaction_id, token=token, channel_id=channel_id, guild_id=guild_id, created=time.time(),
                type=kind, message_id=message_id,
            )

    def add_attachment(self, *, channel_id: str, name: str, data: bytes) -> dict[str, Any]:
        """Stores a file as the CDN would and returns its attachment object."""
        attachment_id = snowflake()
        path = f"/attachments/{channel_id}/{attachment_id}/{name}"
        self.attachments[path] = data
        # Real CDN URLs are signed (ex/is/hm); the client must treat them as opaque.
        url = f"{self.base_url}{path}?ex=6a0b1c2d&is=6a09ca4d&hm=00ff"
        return {
            "id": attachment_id, "filename": name, "size": len(data), "url": url, "proxy_url": url,
            "content_type": content_type(name),
        }

    def add_message(self, *, channel_id: str, author: dict[str, Any], content: str) -> dict[str, Any]:
        """A message already in a channel (history that /summarize messages:N reads)."""
        with self._lock:
            return self._store_message(channel_id, author, content, None)

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        pattern = re.compile(path_regex)
        with self._lock:
            return [c for c in self.calls if c.method == method and pattern.search(c.path)]

    def interaction(self, token: str) -> Interaction:
        return self.interactions[token]

    def answer_of(self, token: str) -> list[str]:
        """The texts a user sees for an interaction: the original response, then follow-ups."""
        with self._lock:
            found = self.interactions[token]
            ids = [found.original_id, *found.followups]
            return [self.messages[i]["content"] for i in ids if i in self.messages]

    def channel_texts(self, channel_id: str) -> list[str]:
        with self._lock:
            return [self.messages[i]["content"] for i in self.channels.get(channel_id, []) if i in self.messages]

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(self.messages[i]) for i in self.channels.get(channel_id, []) if i in self.messages]

    # --- the HTTP app --------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_fault])
        r = app.router
        r.add_get(f"{API}/users/@me", self._me)
        r.add_get(f"{API}/oauth2/applications/@me", self._application)
        r.add_get(f"{API}/gateway/bot", self._gateway_bot)
        r.add_get(f"{API}/gateway", self._gateway)
        r.add_post(f"{API}/interactions/{{iid}}/{{token}}/callback", self._callback)
        r.add_get(f"{API}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_get)
        r.add_patch(f"{API}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_edit)
        r.add_delete(f"{API}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_delete)
        r.add_post(f"{API}/webhooks/{{app}}/{{token}}", self._followup)
        r.add_post(f"{API}/channels/{{cid}}/messages", self._channel_post)
        r.add_get(f"{API}/channels/{{cid}}/messages", self._channel_list)
        r.add_get(f"{API}/channels/{{cid}}/messages/{{mid}}", self._channel_get)
        r.add_patch(f"{API}/channels/{{cid}}/messages/{{mid}}", self._channel_edit)
        r.add_delete(f"{API}/channels/{{cid}}/messages/{{mid}}", self._channel_delete)
        r.add_post(f"{API}/channels/{{cid}}/typing", self._typing)
        r.add_put(f"{API}/applications/{{app}}/commands", self._put_commands)
        r.add_put(f"{API}/applications/{{app}}/guilds/{{gid}}/commands", self._put_commands)
        r.add_get(f"{API}/applications/{{app}}/commands", self._get_commands)
        r.add_get(f"{API}/applications/{{app}}/guilds/{{gid}}/commands", self._get_commands)
        r.add_get("/attachments/{cid}/{aid}/{name}", self._attachment)
        return app

    @web.middleware
    async def _record_and_fault(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = request.path.removeprefix(API)
        with self._lock:
            self.calls.append(Call(request.method, path, dict(request.query), body, dict(request.headers), time.time()))
            fault = next((f for f in self._faults if f.method == request.method and f.pattern.search(path)), None)
            if fault is not None and fault.skip > 0:
                fault.skip -= 1
                fault = None
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
        if fault is not None:
            return fault_response(fault)
        needs_auth = request.path.startswith(API) and not path.startswith(("/webhooks/", "/interactions/"))
        if needs_auth and request.headers.get("Authorization") != f"Bot {BOT_TOKEN}":
            return error(401, 0, "401: Unauthorized")
        request[BODY] = body
        response: web.StreamResponse = await handler(request)
        return response

    async def _me(self, request: web.Request) -> web.Response:
        return json_response({**BOT_USER, "verified": True, "mfa_enabled": False, "locale": "en-US"})

    async def _application(self, request: web.Request) -> web.Response:
        return json_response({
            "id": APPLICATION_ID, "name": "Tertulia", "icon": None, "description": "LLM work in team chats",
            "summary": "", "type": None, "bot_public": True, "bot_require_code_grant": False,
            "verify_key": "0" * 64, "flags": 1 << 19 | 1 << 23,  # message content + commands badge
            "owner": user_payload("1000000000000000042", "owner"), "team": None,
            "bot": BOT_USER, "rpc_origins": [], "redirect_uris": [], "interactions_endpoint_url": None,
            "integration_types_config": {"0": {}},
        })

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return json_response({
            "url": self.gateway_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
        })

    async def _gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url})

    # --- channels ------------------------------------------------------------------------

    async def _channel_post(self, request: web.Request) -> web.Response:
        with self._lock:
            problem = check_content(request[BODY], editing=False, current=None)
            if problem is not None:
                return problem
            body = request[BODY]
            reference = body.get("message_reference")
            if reference and str(reference.get("message_id")) not in self.messages and reference.get(
                "fail_if_not_exists", True
            ):
                return error(400, 50035, "Invalid Form Body")
            message = self._store_message(request.match_info["cid"], BOT_USER, body["content"], body)
            return json_response(message)

    async def _channel_edit(self, request: web.Request) -> web.Response:
        with self._lock:
            message_id = request.match_info["mid"]
            current = self.messages.get(message_id)
            if current is None or current["channel_id"] != request.match_info["cid"]:
                return error(404, 10008, "Unknown Message")
            if current["author"]["id"] != APPLICATION_ID:
                return error(403, 50005, "Cannot edit a message authored by another user")
            problem = check_content(request[BODY], editing=True, current=current)
            if problem is not None:
                return problem
            return json_response(self._edit_message(message_id, request[BODY]))

    async def _channel_delete(self, request: web.Request) -> web.Response:
        """204; a bot deletes its own messages, others' need MANAGE_MESSAGES (not granted here)."""
        with self._lock:
            message_id = request.match_info["mid"]
            current = self.messages.get(message_id)
            if current is None or current["channel_id"] != request.match_info["cid"]:
                return error(404, 10008, "Unknown Message")
            if current["author"]["id"] != APPLICATION_ID:
                return error(403, 50013, "Missing Permissions")
            self.messages.pop(message_id)
            return web.Response(status=204)

    async def _channel_list(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "50"))
        if not 1 <= limit <= 100:
            return error(400, 50035, "Invalid Form Body")
        before = request.query.get("before")
        with self._lock:
            ids = list(self.channels.get(request.match_info["cid"], []))
            if before:
                ids = [i for i in ids if int(i) < int(before)]
            newest_first = [self.messages[i] for i in reversed(ids) if i in self.messages][:limit]
        return json_response(newest_first)

    async def _channel_get(self, request: web.Request) -> web.Response:
        with self._lock:
            message = self.messages.get(request.match_info["mid"])
        if message is None or message["channel_id"] != request.match_info["cid"]:
            return error(404, 10008, "Unknown Message")
        return json_response(message)

    async def _typing(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    # --- application commands ------------------------------------------------------------

    async def _put_commands(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if not isinstance(body, list):
            return error(400, 50035, "Invalid Form Body")
        guild_id = request.match_info.get("gid")
        stored = []
        for command in body:
            name = command.get("name", "")
            if not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower():
                return error(400, 50035, "Invalid Form Body")
            description = command.get("description", "")
            if not 1 <= len(description) <= 100:
                return error(400, 50035, "Invalid Form Body")
            stored.append({
                "id": snowflake(), "application_id": APPLICATION_ID, "version": snowflake(),
                "type": command.get("type", 1), "default_member_permissions": None, "nsfw": False,
                **({"guild_id": guild_id} if guild_id else {}), **command,
            })
        with self._lock:
            self.commands[guild_id or "global"] = stored
        return json_response(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        with self._lock:
            return json_response(self.commands.get(request.match_info.get("gid") or "global", []))

    async def _attachment(self, request: web.Request) -> web.Response:
        path = request.path
        data = self.attachments.get(path)
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, headers={"Content-Type": content_type(request.match_info["name"])})

    # --- state ---------------------------------------------------------------------------

    def _store_message(
        self, channel_id: str, author: dict[str, Any], content: str, body: dict[str, Any] | None,
        *, message_id: str | None = None, interaction: Interaction | None = None,
    ) -> dict[str, Any]:
        message_id = message_id or snowflake()
        message: dict[str, Any] = {
            "id": message_id, "type": 0, "channel_id": channel_id, "author": author, "content": content,
            "timestamp": iso_now(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
            "flags": 0, "components": list((body or {}).get("components") or []),
        }
        reference = (body or {}).get("message_reference")
        # Snowflakes arrive as strings or integers; Discord accepts both.
        referenced = str(reference.get("message_id")) if reference else None
        if referenced in self.messages:
            message["type"] = 19
            message["message_reference"] = {"type": 0, "message_id": referenced, "channel_id": channel_id}
            message["referenced_message"] = dict(self.messages[referenced])
        if interaction is not None:
            message["type"] = 20  # CHAT_INPUT_COMMAND
            message["webhook_id"] = APPLICATION_ID
            message["application_id"] = APPLICATION_ID
        self.messages[message_id] = message
        self.history[message_id] = [content] if content else []
        self.channels.setdefault(channel_id, []).append(message_id)
        return message

    def _edit_message(self, message_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message = self.messages[message_id]
        if "content" in body and body["content"] is not None:
            message["content"] = body["content"]
            self.history[message_id].append(body["content"])
        if body.get("components") is not None:  # [] takes the buttons away
            message["components"] = list(body["components"])
        message["flags"] = int(message.get("flags", 0)) & ~128  # no longer loading
        message["edited_timestamp"] = iso_now()
        return dict(message)
