"""A Discord gateway (v10) WebSocket of our own, for the real discord.py client.

Protocol, per the Discord gateway docs: the client connects with ``?v=10&encoding=json``
and optionally ``compress=zlib-stream`` (one zlib context for the whole connection, every
payload ending in the Z_SYNC_FLUSH suffix ``00 00 ff ff``); we send HELLO (op 10) with the
heartbeat interval; the client heartbeats (op 1) and we ACK (op 11); it IDENTIFYs (op 2)
with its token and intents, and we dispatch READY (with ``session_id`` and
``resume_gateway_url``) then GUILD_CREATE for each guild. RESUME (op 6) gets RESUMED.
A bad token closes with 4004, privileged intents we do not grant with 4014.

Tests then ``dispatch`` INTERACTION_CREATE / MESSAGE_CREATE payloads built with
``fakes/discord_payloads.py``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from fakes.discord_payloads import guild_payload
from fakes.discord_server import (
    APPLICATION_ID,
    BOT_TOKEN,
    BOT_USER,
    GUILD_ID,
    FakeDiscord,
)
from fakes.loopback import BackgroundApp

HEARTBEAT_INTERVAL_MS = 41_250
ACK_DELAY = 0.02
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
        self.resumes: list[dict[str, Any]] = []
        self.connect_queries: list[dict[str, str]] = []
        self.url = ""
        self._server = BackgroundApp(name="fake-discord-gateway")

    def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_get("/", self._connect)
        self._server.start(app, port=port)
        self.url = f"ws://127.0.0.1:{port}/"
        self.rest.gateway_url = self.url

    def stop(self) -> None:
        async def close_sessions() -> None:
            for session in list(self.sessions):
                await session.ws.close(code=1001)

        self._server.stop(before=close_sessions)

    def ready_sessions(self) -> list[_Session]:
        return [s for s in self.sessions if s.identified and not s.ws.closed]

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Sends a DISPATCH to every identified client (blocking until written)."""
        sessions = self.ready_sessions()
        if not sessions:
            raise AssertionError("no identified gateway session to dispatch to")

        async def send_all() -> None:
            for session in sessions:
                await session.dispatch(event, data)

        self._server.run(send_all())

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
                # A real gateway is a network hop away; acking within the same instant
                # races discord.py's latency bookkeeping into "can't keep up" warnings.
                await asyncio.sleep(ACK_DELAY)
                await session.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                await self._identify(session, payload["d"])
            elif op == 6:
                await self._resume(session, payload["d"])
            elif op in (3, 4, 8):
                pass  # presence / voice / member requests: nothing to do here
            else:
                await ws.close(code=4001, message=b"Unknown opcode")
        return ws

    async def _resume(self, session: _Session, data: dict[str, Any]) -> None:
        self.resumes.append(data)
        known = {s.id: s for s in self.sessions if s is not session}
        previous = known.get(str(data.get("session_id")))
        if data.get("token") != BOT_TOKEN or previous is None:
            await session.send({"op": 9, "d": False, "s": None, "t": None})  # not resumable
            return
        session.id = previous.id
        session.sequence = previous.sequence
        session.intents = previous.intents
        session.identified = True
        await session.dispatch("RESUMED", {})

    def reconnect(self) -> None:
        """Asks every client to reconnect (op 7), as Discord does before moving a session;
        a well-behaved client resumes at ``resume_gateway_url``."""

        async def send_all() -> None:
            for session in self.ready_sessions():
                await session.send({"op": 7, "d": None, "s": None, "t": None})

        self._server.run(send_all())

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
