"""A Discord gateway (v10) WebSocket of our own, for the real discord.py client.

Protocol, per the Discord gateway docs: the client connects with ``?v=10&encoding=json``
and optionally ``compress=zlib-stream`` (one zlib context for the whole connection, every
payload ending in the Z_SYNC_FLUSH suffix ``00 00 ff ff``); we send HELLO (op 10) with the
heartbeat interval; the client heartbeats (op 1) and we ACK (op 11); it IDENTIFYs (op 2)
with its token and intents, and we dispatch READY (with ``session_id`` and
``resume_gateway_url``) then GUILD_CREATE for each guild. RESUME (op 6) gets RESUMED.
A bad token closes with 4004, privileged intents we do not grant with 4014.

Tests then ``dispatch`` INTERACTION_CREATE / MESSAGE_CREATE payloads built by the helpers
below, which are shaped like Discord's.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_server import (
    APPLICATION_ID,
    BOT_TOKEN,
    BOT_USER,
    CHANNEL_ID,
    GUILD_ID,
    FakeDiscord,
    iso_now,
    snowflake,
    user_payload,
)

HEARTBEAT_INTERVAL_MS = 41_250
MESSAGE_CONTENT_INTENT = 1 << 15
GUILD_MEMBERS_INTENT = 1 << 1
PRESENCES_INTENT = 1 << 8


class _Session:
    def __init__(self, ws: web.WebSocketResponse, *, compress: bool) -> None:
        self.ws = ws
        self.id = uuid.uuid4().hex
        self.sequence = 0
        self.identified = False
        self.intents = 0
        self.heartbeats = 0
        self._zlib = zlib.compressobj() if compress else None

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        if self._zlib is None:
            await self.ws.send_str(text)
        else:
            data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(data)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        await self.send({"op": 0, "t": event, "s": self.sequence, "d": data})


class FakeGateway:
    def __init__(self, *, rest: FakeDiscord, grant_message_content: bool = True) -> None:
        self.rest = rest
        self.grant_message_content = grant_message_content
        self.sessions: list[_Session] = []
        self.identifies: list[dict[str, Any]] = []
        self.connect_queries: list[dict[str, str]] = []
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_get("/", self._connect)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-discord-gateway", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake gateway did not start")
        self.url = f"ws://127.0.0.1:{port}/"
        self.rest.gateway_url = self.url

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._runner is None:
            return

        async def shutdown() -> None:
            for session in list(self.sessions):
                await session.ws.close(code=1001)
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def ready_sessions(self) -> list[_Session]:
        return [s for s in self.sessions if s.identified and not s.ws.closed]

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Sends a DISPATCH to every identified client (blocking until written)."""
        assert self._loop is not None
        sessions = self.ready_sessions()
        if not sessions:
            raise AssertionError("no identified gateway session to dispatch to")

        async def send_all() -> None:
            for session in sessions:
                await session.dispatch(event, data)

        asyncio.run_coroutine_threadsafe(send_all(), self._loop).result(10)

    # --- the protocol --------------------------------------------------------------------

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        self.connect_queries.append(dict(request.query))
        ws = web.WebSocketResponse(max_msg_size=4096 * 1024)
        await ws.prepare(request)
        if request.query.get("v") != "10":
            await ws.close(code=4012, message=b"Invalid API version")
            return ws
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Decode error")
            return ws
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream"):
            # We implement zlib-stream only; discord.py asks for zstd-stream only when a
            # zstd module is installed, which this test environment does not have.
            await ws.close(code=4000, message=b"Unsupported compression")
            return ws
        session = _Session(ws, compress=compress == "zlib-stream")
        self.sessions.append(session)
        await session.send({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                session.heartbeats += 1
                await session.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                await self._identify(session, payload["d"])
            elif op == 6:
                session.identified = True
                await session.dispatch("RESUMED", {})
            elif op in (3, 4, 8):
                pass  # presence / voice / member requests: nothing to do here
            else:
                await ws.close(code=4001, message=b"Unknown opcode")
        return ws

    async def _identify(self, session: _Session, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != BOT_TOKEN:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        privileged = GUILD_MEMBERS_INTENT | PRESENCES_INTENT
        if not self.grant_message_content:
            privileged |= MESSAGE_CONTENT_INTENT
        if intents & privileged:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        session.intents = intents
        session.identified = True
        await session.dispatch("READY", {
            "v": 10, "user": {**BOT_USER, "verified": True, "mfa_enabled": False},
            "guilds": [{"id": GUILD_ID, "unavailable": True}],
            "session_id": session.id, "resume_gateway_url": self.url,
            "application": {"id": APPLICATION_ID, "flags": 1 << 19},
            "private_channels": [], "relationships": [], "presences": [], "user_settings": {},
            "geo_ordered_rtc_regions": ["madrid"], "guild_join_requests": [], "auth_session_id_hash": "x",
            "_trace": ["[\"fake-gateway\"]"],
        })
        await session.dispatch("GUILD_CREATE", guild_payload())


# --- payloads shaped like Discord's -------------------------------------------------------

def guild_payload() -> dict[str, Any]:
    everyone = {"id": GUILD_ID, "name": "@everyone", "permissions": "2248473465835073", "position": 0,
                "color": 0, "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False, "managed": False, "mentionable": False, "flags": 0}
    channel = {"id": CHANNEL_ID, "type": 0, "guild_id": GUILD_ID, "name": "general", "position": 0,
               "permission_overwrites": [], "parent_id": None, "nsfw": False, "topic": None,
               "rate_limit_per_user": 0, "last_message_id": None, "flags": 0}
    return {
        "id": GUILD_ID, "name": "Tertulia test", "icon": None, "splash": None, "discovery_splash": None,
        "owner_id": "1000000000000000042", "afk_channel_id": None, "afk_timeout": 300,
        "verification_level": 0, "default_message_notifications": 1, "explicit_content_filter": 0,
        "roles": [everyone], "emojis": [], "stickers": [], "features": [], "mfa_level": 0,
        "system_channel_id": CHANNEL_ID, "system_channel_flags": 0, "rules_channel_id": None,
        "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
        "premium_subscription_count": 0, "preferred_locale": "en-US", "public_updates_channel_id": None,
        "nsfw_level": 0, "premium_progress_bar_enabled": False, "safety_alerts_channel_id": None,
        "joined_at": iso_now(), "large": False, "unavailable": False, "member_count": 3,
        "voice_states": [], "members": [], "channels": [channel], "threads": [], "presences": [],
        "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        "application_id": None, "max_members": 500000, "max_video_channel_users": 25,
    }


def member_payload(user: dict[str, Any]) -> dict[str, Any]:
    return {"user": user, "nick": None, "avatar": None, "banner": None, "roles": [], "joined_at": iso_now(),
            "premium_since": None, "deaf": False, "mute": False, "flags": 0, "pending": False,
            "permissions": "2248473465835073", "communication_disabled_until": None}


def person(user_id: str, name: str) -> dict[str, Any]:
    return user_payload(user_id, name)


def slash_command(
    rest: FakeDiscord,
    name: str,
    options: list[dict[str, Any]] | None = None,
    *,
    user: dict[str, Any],
    channel_id: str = CHANNEL_ID,
    guild_id: str | None = GUILD_ID,
    locale: str = "en-US",
    attachments: list[dict[str, Any]] | None = None,
    interaction_type: int = 2,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload for a chat input command (type 2; 4 = autocomplete),
    registered with the REST fake so that its token works there."""
    interaction_id = snowflake()
    token = "aW50ZXJhY3Rpb246" + uuid.uuid4().hex + uuid.uuid4().hex  # opaque, long, like Discord's
    data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1, "options": options or []}
    if guild_id:
        data["guild_id"] = guild_id
    if attachments:
        data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
    payload: dict[str, Any] = {
        "id": interaction_id, "application_id": APPLICATION_ID, "type": interaction_type, "data": data,
        "channel_id": channel_id, "token": token, "version": 1, "locale": locale,
        "app_permissions": "2248473465835073", "entitlements": [], "attachment_size_limit": 10 * 1024 * 1024,
        "authorizing_integration_owners": {"0": guild_id} if guild_id else {"1": user["id"]},
        "context": 0 if guild_id else 1,
    }
    if guild_id:
        payload["guild_id"] = guild_id
        payload["guild_locale"] = "en-US"
        payload["guild"] = {"id": guild_id, "locale": "en-US", "features": []}
        payload["member"] = member_payload(user)
        payload["channel"] = {"id": channel_id, "type": 0, "guild_id": guild_id, "name": "general",
                              "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                              "flags": 0, "last_message_id": None, "rate_limit_per_user": 0, "topic": None}
    else:
        payload["user"] = user
        payload["channel"] = {"id": channel_id, "type": 1, "recipients": [user], "last_message_id": None,
                              "flags": 0}
    if interaction_type in (2, 4):
        rest.register_interaction(interaction_id=interaction_id, token=token, channel_id=channel_id,
                                  guild_id=guild_id)
    return payload


def option(name: str, value: Any, *, kind: int = 3, focused: bool = False) -> dict[str, Any]:
    """An application command option value: 3 string, 4 integer, 11 attachment (value = id)."""
    found: dict[str, Any] = {"name": name, "type": kind, "value": value}
    if focused:
        found["focused"] = True
    return found


def message_create(
    rest: FakeDiscord,
    content: str,
    *,
    author: dict[str, Any],
    channel_id: str = CHANNEL_ID,
    guild_id: str | None = GUILD_ID,
    mentions_bot: bool = False,
    reply_to: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A MESSAGE_CREATE payload; the message is stored in the REST fake's channel too, as
    Discord would have it. ``content`` should carry ``<@bot>`` when ``mentions_bot``."""
    message_id = snowflake()
    mentions = [BOT_USER] if mentions_bot else []
    data: dict[str, Any] = {
        "id": message_id, "type": 19 if reply_to else 0, "channel_id": channel_id, "author": author,
        "content": content, "timestamp": iso_now(), "edited_timestamp": None, "tts": False,
        "mention_everyone": False, "mentions": mentions, "mention_roles": [], "attachments": attachments or [],
        "embeds": [], "pinned": False, "flags": 0, "components": [], "nonce": str(int(time.time() * 1000)),
    }
    if reply_to:
        referenced = rest.messages.get(reply_to)
        data["message_reference"] = {"type": 0, "message_id": reply_to, "channel_id": channel_id,
                                     **({"guild_id": guild_id} if guild_id else {})}
        data["referenced_message"] = dict(referenced) if referenced else None
        if referenced and referenced["author"]["id"] == APPLICATION_ID and not mentions_bot:
            # A reply pings the replied-to author by default: Discord lists them in mentions.
            data["mentions"] = [BOT_USER]
    if guild_id:
        data["guild_id"] = guild_id
        data["member"] = {k: v for k, v in member_payload(author).items() if k != "user"}
    with rest._lock:
        rest.messages[message_id] = dict(data)
        rest.history[message_id] = [content]
        rest.channels.setdefault(channel_id, []).append(message_id)
    return data


def bot_mention(text: str) -> str:
    return f"<@{APPLICATION_ID}> {text}"
