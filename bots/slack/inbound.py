"""Slack payloads -> InboundMessage. Pure functions: no I/O, so they are unit-tested alone.

Where the answer goes is decided here and carried in the message's ``SlackAddress``
(bots/slack/address.py): a thread, a header naming a slash command, a response_url
fallback, Slack's assistant container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bots.slack.address import SlackAddress, slack_address
from core.commands import Command, command_from, files_alone, parse_line, split_first_word
from core.messages import Attachment, InboundMessage
from core.table import find_spec, word_commands

PLATFORM = "slack"
SHORTCUT_COMMAND = "summarize"  # the "Summarize thread" message shortcut of manifest.yml
# Message subtypes that are a person writing; every other subtype (edits, joins, bot
# posts...) is not something to answer.
_USER_SUBTYPES = frozenset({None, "", "file_share", "thread_broadcast"})


@dataclass(frozen=True, kw_only=True)
class Parsed:
    """What the router gets: the message and the command it carries (None: plain chat)."""

    message: InboundMessage
    command: Command | None = None

    @property
    def thread_ts(self) -> str | None:
        """Where an immediate reply goes (the answer's own thread)."""
        return slack_address(self.message.address).thread_ts


def is_dm_channel(channel_id: str, channel_name: str | None = None) -> bool:
    return channel_id.startswith("D") or channel_name == "directmessage"


def attachments_of(files: list[dict[str, Any]] | None) -> tuple[Attachment, ...]:
    """Files become URLs the worker downloads later with the bot token: never inside the
    3-second ack window."""
    result = []
    for f in files or []:
        url = f.get("url_private_download") or f.get("url_private")
        if not url or f.get("mode") in ("tombstone", "hidden_by_limit", "external"):
            continue
        result.append(
            Attachment(
                name=str(f.get("name") or f.get("title") or f.get("id") or "file"),
                size=int(f.get("size") or 0),
                url=str(url),
                mime_type=f.get("mimetype"),
            )
        )
    return tuple(result)


def command_in(text: str) -> Command | None:
    """The command a mention or DM starts: ``/cmd ...`` as typed; a command word first
    (``summarize``, ``tldr``...); or a lone command name that needs no argument (``help``,
    ``reset``, ``models``). None: plain chat."""
    text = text.strip()
    line = parse_line(text)
    if line is not None:
        return command_from(line.name, text=line.args)
    first, rest = split_first_word(text)
    word = first.lower().rstrip(":,.!?")
    named = word_commands().get(word)
    if named is not None:
        return command_from(named, text=rest)
    spec = find_spec(word)
    if spec is not None and not rest and not any(arg.required for arg in spec.args):
        return command_from(spec.name)
    return None


def umbrella_command(text: str) -> Command:
    """``/tertulia model llama-2-chat``: Slack's one command for the commands that have no
    slash command of their own (help, models, model, reset); empty means help."""
    name, rest = split_first_word(text)
    return command_from(name.lower() or "help", text=rest)


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    return text.strip()


def is_from_a_bot(event: dict[str, Any], bot_user_id: str | None) -> bool:
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    if event.get("subtype") not in _USER_SUBTYPES:
        return True
    return bool(bot_user_id and event.get("user") == bot_user_id)


def from_slash_command(body: dict[str, Any], *, canonical: str | None, locale: str | None) -> Parsed:
    """``canonical``: the table's command behind this slash command; None for the umbrella."""
    text = str(body.get("text") or "").strip()
    channel = str(body.get("channel_id") or "")
    command = command_from(canonical, text=text) if canonical else umbrella_command(text)
    message = InboundMessage(
        platform=PLATFORM,
        workspace=str(body.get("team_id") or ""),
        channel=channel,
        user=str(body.get("user_id") or ""),
        user_name=body.get("user_name"),
        locale=locale,
        text=f"{body.get('command') or '/' + command.name} {text}".strip(),
        is_dm=is_dm_channel(channel, body.get("channel_name")),
        message_id=body.get("trigger_id"),
        context="channel",  # a slash command has no thread; it may read the channel
        address=SlackAddress(
            command=f"{body.get('command') or '/' + command.name} {text}".strip(),
            response_url=str(body.get("response_url") or "") or None,
        ),
    )
    return Parsed(message=message, command=command)


def mentions_bot(event: dict[str, Any], bot_user_id: str | None) -> bool:
    return bool(bot_user_id) and f"<@{bot_user_id}" in str(event.get("text") or "")


def thread_of(event: dict[str, Any]) -> str | None:
    """The thread a channel ``message`` event is a reply in (None: top-level chatter)."""
    thread_ts = event.get("thread_ts")
    return str(thread_ts) if thread_ts and thread_ts != event.get("ts") else None


def from_event(
    body: dict[str, Any], *, bot_user_id: str | None, locale: str | None, followed: bool = False
) -> Parsed | None:
    """An ``app_mention``, a DM ``message``, or a reply in a channel thread the bot follows
    (``followed``: the adapter's memory says the bot answered there); None when it is not
    for us."""
    event = body.get("event") or {}
    if is_from_a_bot(event, bot_user_id):
        return None
    channel = str(event.get("channel") or "")
    is_dm = event.get("type") == "message" and (event.get("channel_type") == "im" or is_dm_channel(channel))
    # In channels, a message is for us only as a reply in a thread the bot is part of; a
    # mention there arrives as app_mention too, and is answered from that event alone.
    answerable = followed and thread_of(event) is not None and not mentions_bot(event, bot_user_id)
    if event.get("type") == "message" and not is_dm and not answerable:
        return None
    text = strip_mentions(str(event.get("text") or ""), bot_user_id)
    command = command_in(text)
    attachments = attachments_of(event.get("files"))
    if attachments and command is None and not text:
        # Files with no words (a DM, a mention, a followed thread's reply): images are a chat
        # turn about them, a document is read by the file command.
        command = files_alone(attachments, locale=locale)
    if not text and not attachments:
        return None
    return _event_message(body, event, text, is_dm, attachments, locale, command=command)


def _event_message(
    body: dict[str, Any],
    event: dict[str, Any],
    text: str,
    is_dm: bool,
    attachments: tuple[Attachment, ...],
    locale: str | None,
    *,
    command: Command | None,
) -> Parsed:
    ts = str(event.get("ts") or "")
    thread_ts = event.get("thread_ts")
    address = SlackAddress()
    if is_dm:
        if thread_ts:  # a DM thread: Slack's assistant container, streamed in place
            address = SlackAddress(thread_ts=str(thread_ts), assistant=True)
        thread = str(thread_ts) if thread_ts else None
    else:
        # A mention is answered in its thread; a thread is one conversation scope.
        thread = str(thread_ts or ts)
        address = SlackAddress(thread_ts=thread)
    message = InboundMessage(
        platform=PLATFORM,
        workspace=str(body.get("team_id") or event.get("team") or ""),
        channel=str(event.get("channel") or ""),
        user=str(event.get("user") or ""),
        locale=locale,
        text=text,
        thread=thread,
        is_dm=is_dm,
        addressed=True,
        message_id=ts,
        attachments=attachments,
        context="thread" if thread_ts else "channel",
        address=address,
    )
    return Parsed(message=message, command=command)


def from_message_shortcut(body: dict[str, Any], *, locale: str | None) -> Parsed:
    """The "Summarize thread" message shortcut: summarise the thread the message is in
    (or that starts at it), and answer in that thread."""
    target = body.get("message") or {}
    root = str(target.get("thread_ts") or target.get("ts") or body.get("message_ts") or "")
    channel = str((body.get("channel") or {}).get("id") or "")
    user = body.get("user") or {}
    message = InboundMessage(
        platform=PLATFORM,
        workspace=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
        channel=channel,
        user=str(user.get("id") or ""),
        user_name=user.get("username") or user.get("name"),
        locale=locale,
        text="",
        thread=root,
        is_dm=is_dm_channel(channel),
        addressed=True,
        message_id=body.get("trigger_id"),
        context="thread",
        address=SlackAddress(thread_ts=root, response_url=str(body.get("response_url") or "") or None),
    )
    return Parsed(message=message, command=command_from(SHORTCUT_COMMAND))
