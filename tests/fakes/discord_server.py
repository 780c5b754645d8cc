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

import asyncio
import itertools
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API = "/api/v10"
BOT_TOKEN = "test-discord-bot-token"
APPLICATION_ID = "1100000000000000001"  # the bot user shares the application's id
GUILD_ID = "1200000000000000001"
CHANNEL_ID = "1200000000000000101"
MAX_CONTENT = 2000
TOKEN_TTL = 15 * 60.0

_snowflakes = itertools.count(1_300_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_snowflakes))


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def user_payload(user_id: str, username: str, *, bot: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user_id,
        "username": username,
        "global_name": None if bot else username.title(),
        "discriminator": "0",
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
    }
    if bot:
        data["bot"] = True
    return data


BOT_USER = user_payload(APPLICATION_ID, "tertulia", bot=True)


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    at: float


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    scope: str
    remaining: int  # how many more requests it answers


@dataclass
class Interaction:
    id: str
    token: str
    channel_id: str
    guild_id: str | None
    created: float
    acked_at: float | None = None
    callback_type: int | None = None
    callback_data: dict[str, Any] | None = None
    original_id: str = field(default_factory=snowflake)
    followups: list[str] = field(default_factory=list)


class FakeDiscord:
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # --- control API -----------------------------------------------------------------

    def start(self, port: int) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._runner = web.AppRunner(self._app())
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-discord", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Discord did not start")
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._faults.clear()
            self.token_ttl = TOKEN_TTL

    def fail(
        self, method: str, path_regex: str, *, status: int = 429, retry_after: float = 1.0,
        scope: str = "user", times: int = 1,
    ) -> None:
        """The next ``times`` matching requests get ``status`` (429: with retry_after)."""
        with self._lock:
            self._faults.append(Fault(method, re.compile(path_regex), status, retry_after, scope, times))

    def register_interaction(
        self, *, interaction_id: str, token: str, channel_id: str, guild_id: str | None
    ) -> None:
        with self._lock:
            self.interactions[token] = Interaction(
                id=interaction_id, token=token, channel_id=channel_id, guild_id=guild_id, created=time.time()
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
            "content_type": _content_type(name),
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
            return [self.messages[i]["content"] for i in self.channels.get(channel_id, [])]

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(self.messages[i]) for i in self.channels.get(channel_id, [])]

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
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
        if fault is not None:
            return _fault_response(fault)
        needs_auth = request.path.startswith(API) and not path.startswith(("/webhooks/", "/interactions/"))
        if needs_auth and request.headers.get("Authorization") != f"Bot {BOT_TOKEN}":
            return _error(401, 0, "401: Unauthorized")
        request["json"] = body
        response: web.StreamResponse = await handler(request)
        return response

    async def _me(self, request: web.Request) -> web.Response:
        return _json({**BOT_USER, "verified": True, "mfa_enabled": False, "locale": "en-US"})

    async def _application(self, request: web.Request) -> web.Response:
        return _json({
            "id": APPLICATION_ID, "name": "Tertulia", "icon": None, "description": "LLM work in team chats",
            "summary": "", "type": None, "bot_public": True, "bot_require_code_grant": False,
            "verify_key": "0" * 64, "flags": 1 << 19 | 1 << 23,  # message content + commands badge
            "owner": user_payload("1000000000000000042", "owner"), "team": None,
            "bot": BOT_USER, "rpc_origins": [], "redirect_uris": [], "interactions_endpoint_url": None,
            "integration_types_config": {"0": {}},
        })

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json({
            "url": self.gateway_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
        })

    async def _gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    # --- interactions --------------------------------------------------------------------

    async def _callback(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = request["json"] or {}
        with self._lock:
            found = self.interactions.get(token)
            if found is None or found.id != request.match_info["iid"]:
                return _error(404, 10062, "Unknown interaction")
            if time.time() - found.created > 3.0 and body.get("type") != 8:
                return _error(404, 10062, "Unknown interaction")  # the 3-second window passed
            if found.acked_at is not None:
                return _error(400, 40060, "Interaction has already been acknowledged.")
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
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        payload: dict[str, Any] = {
            "interaction": {"id": found.id, "type": 2, "response_message_loading": kind == 5,
                            "response_message_ephemeral": False},
        }
        if message is not None:
            payload["interaction"]["response_message_id"] = message["id"]
            payload["resource"] = {"type": kind, "message": message}
        elif kind is not None:
            payload["resource"] = {"type": kind}
        return _json(payload)

    def _webhook_interaction(self, request: web.Request) -> Interaction | web.Response:
        if request.match_info["app"] != APPLICATION_ID:
            return _error(404, 10015, "Unknown Webhook")
        found = self.interactions.get(request.match_info["token"])
        if found is None:
            return _error(404, 10015, "Unknown Webhook")
        if time.time() - found.created > self.token_ttl:
            return _error(401, 50027, "Invalid Webhook Token")
        if found.acked_at is None:
            return _error(404, 10015, "Unknown Webhook")
        return found

    def _webhook_message_id(self, found: Interaction, mid: str) -> str | None:
        message_id = found.original_id if mid == "@original" else mid
        if message_id not in self.messages or message_id not in (found.original_id, *found.followups):
            return None
        return message_id

    async def _webhook_get(self, request: web.Request) -> web.Response:
        with self._lock:
            found = self._webhook_interaction(request)
            if isinstance(found, web.Response):
                return found
            message_id = self._webhook_message_id(found, request.match_info["mid"])
            if message_id is None:
                return _error(404, 10008, "Unknown Message")
            return _json(self.messages[message_id])

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        with self._lock:
            found = self._webhook_interaction(request)
            if isinstance(found, web.Response):
                return found
            message_id = self._webhook_message_id(found, request.match_info["mid"])
            if message_id is None:
                return _error(404, 10008, "Unknown Message")
            problem = _check_content(request["json"], editing=True, current=self.messages[message_id])
            if problem is not None:
                return problem
            return _json(self._edit_message(message_id, request["json"]))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        with self._lock:
            found = self._webhook_interaction(request)
            if isinstance(found, web.Response):
                return found
            message_id = self._webhook_message_id(found, request.match_info["mid"])
            if message_id is None:
                return _error(404, 10008, "Unknown Message")
            self.messages.pop(message_id)
            return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        with self._lock:
            found = self._webhook_interaction(request)
            if isinstance(found, web.Response):
                return found
            problem = _check_content(request["json"], editing=False, current=None)
            if problem is not None:
                return problem
            message = self._store_message(found.channel_id, BOT_USER, request["json"]["content"], request["json"])
            found.followups.append(message["id"])
            message["webhook_id"] = APPLICATION_ID
            return _json(message)

    # --- channels ------------------------------------------------------------------------

    async def _channel_post(self, request: web.Request) -> web.Response:
        with self._lock:
            problem = _check_content(request["json"], editing=False, current=None)
            if problem is not None:
                return problem
            body = request["json"]
            reference = body.get("message_reference")
            if reference and str(reference.get("message_id")) not in self.messages and reference.get(
                "fail_if_not_exists", True
            ):
                return _error(400, 50035, "Invalid Form Body")
            message = self._store_message(request.match_info["cid"], BOT_USER, body["content"], body)
            return _json(message)

    async def _channel_edit(self, request: web.Request) -> web.Response:
        with self._lock:
            message_id = request.match_info["mid"]
            current = self.messages.get(message_id)
            if current is None or current["channel_id"] != request.match_info["cid"]:
                return _error(404, 10008, "Unknown Message")
            if current["author"]["id"] != APPLICATION_ID:
                return _error(403, 50005, "Cannot edit a message authored by another user")
            problem = _check_content(request["json"], editing=True, current=current)
            if problem is not None:
                return problem
            return _json(self._edit_message(message_id, request["json"]))

    async def _channel_list(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "50"))
        if not 1 <= limit <= 100:
            return _error(400, 50035, "Invalid Form Body")
        before = request.query.get("before")
        with self._lock:
            ids = list(self.channels.get(request.match_info["cid"], []))
            if before:
                ids = [i for i in ids if int(i) < int(before)]
            newest_first = [self.messages[i] for i in reversed(ids) if i in self.messages][:limit]
        return _json(newest_first)

    async def _channel_get(self, request: web.Request) -> web.Response:
        with self._lock:
            message = self.messages.get(request.match_info["mid"])
        if message is None or message["channel_id"] != request.match_info["cid"]:
            return _error(404, 10008, "Unknown Message")
        return _json(message)

    async def _typing(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    # --- application commands ------------------------------------------------------------

    async def _put_commands(self, request: web.Request) -> web.Response:
        body = request["json"]
        if not isinstance(body, list):
            return _error(400, 50035, "Invalid Form Body")
        guild_id = request.match_info.get("gid")
        stored = []
        for command in body:
            name = command.get("name", "")
            if not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower():
                return _error(400, 50035, "Invalid Form Body")
            description = command.get("description", "")
            if not 1 <= len(description) <= 100:
                return _error(400, 50035, "Invalid Form Body")
            stored.append({
                "id": snowflake(), "application_id": APPLICATION_ID, "version": snowflake(),
                "type": command.get("type", 1), "default_member_permissions": None, "nsfw": False,
                **({"guild_id": guild_id} if guild_id else {}), **command,
            })
        with self._lock:
            self.commands[guild_id or "global"] = stored
        return _json(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        with self._lock:
            return _json(self.commands.get(request.match_info.get("gid") or "global", []))

    async def _attachment(self, request: web.Request) -> web.Response:
        path = request.path
        data = self.attachments.get(path)
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type=_content_type(request.match_info["name"]))

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
            "flags": 0, "components": [],
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
        message["flags"] = int(message.get("flags", 0)) & ~128  # no longer loading
        message["edited_timestamp"] = iso_now()
        return dict(message)


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Discord answers with exactly ``application/json`` (no charset); discord.py checks
    the header for equality before it parses a body as JSON."""
    return web.Response(
        body=json.dumps(data).encode(), status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _content_type(name: str) -> str:
    lowered = name.lower()
    for suffix, kind in ((".txt", "text/plain; charset=utf-8"), (".md", "text/markdown; charset=utf-8"),
                         (".pdf", "application/pdf"),
                         (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")):
        if lowered.endswith(suffix):
            return kind
    return "application/octet-stream"


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _check_content(body: Any, *, editing: bool, current: dict[str, Any] | None) -> web.Response | None:
    if not isinstance(body, dict):
        return _error(400, 50109, "The request body contains invalid JSON.")
    content = body.get("content")
    if content is not None and len(content) > MAX_CONTENT:
        return _json({
            "message": "Invalid Form Body", "code": 50035,
            "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                                "message": f"Must be {MAX_CONTENT} or fewer in length."}]}},
        }, status=400)
    has_other = bool(body.get("embeds") or body.get("attachments") or body.get("components"))
    if not editing and not (content or "").strip() and not has_other:
        return _error(400, 50006, "Cannot send an empty message")
    if editing and content is not None and not content.strip() and not has_other:
        return _error(400, 50006, "Cannot send an empty message")
    return None


def _fault_response(fault: Fault) -> web.Response:
    if fault.status != 429:
        return _error(fault.status, 0, "scripted fault")
    body = {"message": "You are being rate limited.", "retry_after": fault.retry_after,
            "global": fault.scope == "global"}
    headers = {
        "Retry-After": str(math.ceil(fault.retry_after)),
        "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
        "X-RateLimit-Bucket": "f" * 32, "X-RateLimit-Scope": fault.scope,
    }
    if fault.scope == "global":
        headers["X-RateLimit-Global"] = "true"
    return _json(body, status=429, headers=headers)
