"""Shapes and helpers shared by the fake Discord REST server's modules: ids, payloads,
recorded calls, scripted faults and Discord-shaped error answers."""

from __future__ import annotations

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

DISCORD_EPOCH_MS = 1_420_070_400_000
BODY = web.RequestKey("body", object)
_increment = itertools.count()
_snowflake_lock = threading.Lock()
_last_snowflake = 0


def snowflake() -> str:
    """A Discord snowflake: milliseconds since the Discord epoch << 22, then worker,
    process and increment bits. Clients read creation times from ids (discord.py's
    ``created_at``), so ids must carry the real time, and they must grow."""
    global _last_snowflake
    with _snowflake_lock:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22 | (1 << 17) | (next(_increment) & 0xFFF)
        value = max(value, _last_snowflake + 1)
        _last_snowflake = value
        return str(value)


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
    skip: int = 0  # matching requests to let through first


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
    type: int = 2  # 2 APPLICATION_COMMAND, 3 MESSAGE_COMPONENT
    message_id: str | None = None  # a component's message (its callback 6/7 acts on it)
    followups: list[str] = field(default_factory=list)


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Discord answers with exactly ``application/json`` (no charset); discord.py checks
    the header for equality before it parses a body as JSON."""
    return web.Response(
        body=json.dumps(data).encode(), status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def content_type(name: str) -> str:
    lowered = name.lower()
    for suffix, kind in ((".txt", "text/plain; charset=utf-8"), (".md", "text/markdown; charset=utf-8"),
                         (".pdf", "application/pdf"),
                         (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")):
        if lowered.endswith(suffix):
            return kind
    return "application/octet-stream"


def error(status: int, code: int, message: str) -> web.Response:
    return json_response({"message": message, "code": code}, status=status)


def check_content(body: Any, *, editing: bool, current: dict[str, Any] | None) -> web.Response | None:
    if not isinstance(body, dict):
        return error(400, 50109, "The request body contains invalid JSON.")
    content = body.get("content")
    if content is not None and len(content) > MAX_CONTENT:
        return json_response({
            "message": "Invalid Form Body", "code": 50035,
            "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                                "message": f"Must be {MAX_CONTENT} or fewer in length."}]}},
        }, status=400)
    if body.get("components") is not None and not valid_components(body["components"]):
        return json_response({"message": "Invalid Form Body", "code": 50035,
                              "errors": {"components": {"_errors": [{"code": "COMPONENT_INVALID",
                                                                     "message": "Invalid component"}]}}}, status=400)
    has_other = bool(body.get("embeds") or body.get("attachments") or body.get("components"))
    if not editing and not (content or "").strip() and not has_other:
        return error(400, 50006, "Cannot send an empty message")
    if editing and content is not None and not content.strip() and not has_other:
        return error(400, 50006, "Cannot send an empty message")
    return None


def valid_components(rows: Any) -> bool:
    """Discord's limits on message components (docs: Message Components): at most 5 action
    rows (type 1) of 1-5 buttons (type 2); a non-link button has a custom_id of 1-100
    characters and a label of at most 80 (or an emoji)."""
    if not isinstance(rows, list) or len(rows) > 5:
        return False
    for row in rows:
        buttons = row.get("components") if isinstance(row, dict) and row.get("type") == 1 else None
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 5:
            return False
        for button in buttons:
            if button.get("type") != 2 or button.get("style") not in (1, 2, 3, 4):
                return False
            if not 1 <= len(str(button.get("custom_id") or "")) <= 100:
                return False
            if len(str(button.get("label") or "")) > 80 or not (button.get("label") or button.get("emoji")):
                return False
    return True


def fault_response(fault: Fault) -> web.Response:
    if fault.status != 429:
        return error(fault.status, 0, "scripted fault")
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
    return json_response(body, status=429, headers=headers)
