"""Gateway payloads shaped like Discord's: GUILD_CREATE, members, INTERACTION_CREATE for
chat input commands and autocomplete, MESSAGE_CREATE with mentions and replies."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fakes.discord_model import APPLICATION_ID, BOT_USER, CHANNEL_ID, GUILD_ID, iso_now, snowflake, user_payload
from fakes.discord_server import FakeDiscord


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


def component_click(
    rest: FakeDiscord, message: dict[str, Any], custom_id: str, *, user: dict[str, Any],
    guild_id: str | None = GUILD_ID, locale: str = "en-US",
) -> dict[str, Any]:
    """An INTERACTION_CREATE for a click on one of ``message``'s buttons (type 3,
    MESSAGE_COMPONENT), registered with the REST fake; a client can only click a button the
    message shows."""
    buttons = [b for row in message.get("components") or [] for b in row.get("components") or []]
    if not any(b.get("custom_id") == custom_id for b in buttons):
        raise AssertionError(f"message {message['id']} has no button {custom_id!r}")
    channel_id = str(message["channel_id"])
    payload = slash_command(rest, "", user=user, channel_id=channel_id, guild_id=guild_id, locale=locale,
                            interaction_type=3)
    payload["data"] = {"custom_id": custom_id, "component_type": 2}
    payload["message"] = dict(message)
    rest.register_interaction(interaction_id=payload["id"], token=payload["token"], channel_id=channel_id,
                              guild_id=guild_id, kind=3, message_id=str(message["id"]))
    return payload
