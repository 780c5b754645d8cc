"""discord.py objects -> InboundMessage, and the scope each conversation gets.

Scopes (see docs/decisions.md): a DM is its user's; a mention in a guild channel belongs
to its reply chain (``thread`` = the chain's root message id); slash commands in a guild
channel are per user in that channel (``thread`` = ``user:<id>``), because an interaction
has no chain and two people's /chat in one busy channel must not share a memory.
"""

from __future__ import annotations

import re

import discord

from bots.discord.address import DiscordAddress, Interaction
from core.messages import Attachment, InboundMessage

PLATFORM = "discord"
DM_WORKSPACE = "dm"


def strip_mentions(content: str, bot_id: int, role_id: int | None = None) -> str:
    """The text without the bot's ``<@id>`` / ``<@!id>`` mentions, nor its managed role's
    ``<@&id>`` (people often pick the role from the mention list by mistake)."""
    text = re.sub(rf"<@!?{bot_id}>", " ", content)
    if role_id is not None:
        text = re.sub(rf"<@&{role_id}>", " ", text)
    return text.strip()


def bot_role_id(message: discord.Message) -> int | None:
    role = message.guild.self_role if message.guild is not None else None
    return role.id if role is not None else None


def attachment_of(attachment: discord.Attachment) -> Attachment:
    # Only metadata: the worker downloads the file, never the gateway process.
    return Attachment(
        name=attachment.filename, size=attachment.size, url=attachment.url, mime_type=attachment.content_type
    )


def role_ids(author: object) -> tuple[str, ...]:
    """A guild member's role ids, for the policy's role allowlist; none in a DM (a User)."""
    return tuple(str(role.id) for role in getattr(author, "roles", None) or ())


def guild_id_of(channel: object, guild: discord.Guild | None) -> int | None:
    if guild is not None:
        return guild.id
    found = getattr(channel, "guild_id", None)
    return int(found) if found else None


def interaction_message(
    interaction: discord.Interaction,
    *,
    text: str,
    attachments: tuple[Attachment, ...] = (),
    context: str | None = None,
    response_message_id: int | None = None,
) -> InboundMessage:
    user = interaction.user
    is_dm = interaction.guild_id is None
    channel_id = int(interaction.channel_id or (interaction.channel.id if interaction.channel else user.id))
    address = DiscordAddress(
        channel_id=channel_id,
        interaction=Interaction(
            application_id=int(interaction.application_id),
            interaction_id=int(interaction.id),
            token=interaction.token,
            created_at=interaction.created_at.timestamp(),
            response_message_id=response_message_id or None,
        ),
    )
    return InboundMessage(
        platform=PLATFORM,
        workspace=str(interaction.guild_id) if not is_dm else DM_WORKSPACE,
        channel=str(channel_id),
        thread=None if is_dm else f"user:{user.id}",
        user=str(user.id),
        user_name=user.display_name,
        locale=str(interaction.locale.value),
        text=text,
        is_dm=is_dm,
        addressed=True,
        message_id=str(interaction.id),
        attachments=attachments,
        context=context,
        address=address,
        roles=role_ids(user),
    )


def channel_message(
    message: discord.Message, *, bot_id: int, root: str | None, locale: str | None
) -> InboundMessage:
    guild_id = guild_id_of(message.channel, message.guild)
    is_dm = guild_id is None
    text = strip_mentions(message.content, bot_id, bot_role_id(message))
    referenced = message.reference.message_id if message.reference is not None else None
    address = DiscordAddress(
        channel_id=message.channel.id, message_id=message.id, referenced_message_id=referenced or None
    )
    return InboundMessage(
        platform=PLATFORM,
        workspace=str(guild_id) if guild_id else DM_WORKSPACE,
        channel=str(message.channel.id),
        thread=None if is_dm else root,
        user=str(message.author.id),
        user_name=message.author.display_name,
        locale=locale,
        text=text,
        is_dm=is_dm,
        addressed=True,
        message_id=str(message.id),
        attachments=tuple(attachment_of(a) for a in message.attachments),
        context="reply" if referenced else "channel",
        address=address,
        roles=role_ids(message.author),
    )


def is_addressed(message: discord.Message, *, bot_id: int) -> bool:
    """A DM, a mention of the bot, or a reply to one of the bot's messages."""
    if guild_id_of(message.channel, message.guild) is None:
        return True
    if any(user.id == bot_id for user in message.mentions):
        return True
    role_id = bot_role_id(message)
    if role_id is not None and any(role.id == role_id for role in message.role_mentions):
        return True
    resolved = message.reference.resolved if message.reference is not None else None
    return isinstance(resolved, discord.Message) and resolved.author.id == bot_id


def is_from_person(message: discord.Message) -> bool:
    """Bots (ourselves included), webhooks and system messages are never conversation."""
    if message.author.bot or message.webhook_id is not None:
        return False
    return message.type in (discord.MessageType.default, discord.MessageType.reply)
