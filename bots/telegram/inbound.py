"""A Telegram message -> the core's InboundMessage (plus what /summarize may read).

Scopes: a private chat is its user's; a group is its chat; a forum topic is its own
thread, so topics never share memory. In groups the bot only takes plain text that
mentions it or replies to it; a command (``/cmd@bot args``) is parsed once, here, by
core/commands.py, and handed to the router typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Message, MessageEntity
from telegram.constants import ChatType

from bots.telegram.address import TelegramAddress
from bots.telegram.delivery import file_url
from core.commands import Command, command_from, files_alone, parse_line
from core.messages import Attachment, InboundMessage
from core.table import find_spec

PLATFORM = "telegram"


@dataclass(frozen=True, kw_only=True)
class Inbound:
    message: InboundMessage
    command: Command | None  # None: plain text (chat, when addressed)


def _real_reply(message: Message) -> Message | None:
    """The message this one answers. In forum topics Telegram sets reply_to_message to the
    topic's creation message on every post: that is not a reply."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return replied


def _mentions_bot(message: Message, *, bot_id: int, bot_username: str) -> list[str]:
    """The mention strings in ``message`` that name this bot (to strip from chat text)."""
    parsed = message.parse_entities() if message.text else message.parse_caption_entities()
    found: list[str] = []
    for entity, text in parsed.items():
        by_name = entity.type == MessageEntity.MENTION and text.lstrip("@").lower() == bot_username.lower()
        by_id = entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id
        if by_name or by_id:
            found.append(text)
    return found


def _document(message: Message) -> Attachment | None:
    document = message.document
    if document is None:
        return None
    return Attachment(
        name=document.file_name or f"{document.file_unique_id}.txt",
        size=int(document.file_size or 0),
        url=file_url(document.file_id),
        mime_type=document.mime_type,
    )


def _photo(message: Message) -> Attachment | None:
    """A photo (Telegram sends several sizes, smallest first): its largest size."""
    if not message.photo:
        return None
    largest = message.photo[-1]
    return Attachment(
        name=f"{largest.file_unique_id}.jpg",  # the Bot API re-encodes photos as JPEG
        size=int(largest.file_size or 0),
        url=file_url(largest.file_id),
        mime_type="image/jpeg",
    )


def _author(message: Message) -> str:
    if message.from_user is not None:
        return message.from_user.full_name
    if message.sender_chat is not None:
        return message.sender_chat.title or "chat"
    return "user"


def to_inbound(message: Message, *, bot_id: int, bot_username: str) -> Inbound | None:
    """None when the message is not for us (plain group chatter, service messages)."""
    text = message.text or message.caption or ""
    sender = message.from_user
    sent = [f for f in (_document(message), _photo(message)) if f is not None]
    if (not text.strip() and not sent) or sender is None or sender.is_bot:
        return None
    chat = message.chat
    private = chat.type == ChatType.PRIVATE
    replied = _real_reply(message)
    mentions = _mentions_bot(message, bot_id=bot_id, bot_username=bot_username)
    replies_to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
    line = parse_line(text, bot_username=bot_username)
    command = command_from(line.name, text=line.args) if line is not None else None
    is_command = text.lstrip().startswith("/")
    addressed = private or bool(mentions) or replies_to_bot
    if not is_command and not addressed:
        return None
    if not is_command and mentions:
        for mention in mentions:
            text = text.replace(mention, "", 1)
        text = text.strip()

    if not text.strip() and sent:
        # A photo or document with no caption, in a private chat or replying to the bot: the
        # same as files alone on every platform (a photo: chat about it; a document: read).
        command = files_alone(sent, locale=sender.language_code)

    topic = message.message_thread_id if message.is_topic_message else None

    # Only commands that take files get them: their own (sent with the command as caption;
    # plain text addressed to the bot is chat, which takes documents and photos), else for
    # commands that read files, the replied-to document. Other messages never carry a file
    # the worker would fetch for nothing; likewise the replied-to text goes only to commands
    # that read it.
    spec = find_spec(command.name) if command is not None and command.known else None
    takes = spec if spec is not None else find_spec("chat") if not is_command else None
    attachments: list[Attachment] = []
    own = _document(message) if takes is not None and takes.takes_files else None
    if own is not None:
        attachments.append(own)
    photo = _photo(message) if takes is not None and takes.images else None
    if photo is not None:
        attachments.append(photo)
    context: str | None = None
    replied_text: str | None = None
    if replied is not None and spec is not None:
        replied_document = _document(replied) if spec.reads_files else None
        if own is None and replied_document is not None:
            attachments.append(replied_document)
        if (replied.text or replied.caption or "").strip() and "reply" in spec.contexts:
            # The Bot API cannot fetch an old message later: the worker reads it from here.
            replied_text = replied.text or replied.caption
            context = "reply"
    address = TelegramAddress(
        chat_id=chat.id,
        private=private,
        message_thread_id=topic,
        reply_to=None if private else message.message_id,
        replied_text=replied_text,
        replied_author=_author(replied) if replied_text and replied is not None else None,
    )

    inbound = InboundMessage(
        platform=PLATFORM,
        workspace=str(bot_id),
        channel=str(chat.id),
        # Forum topics are threads; reply chains in ordinary groups are not.
        thread=str(topic) if topic is not None and chat.is_forum else None,
        user=str(sender.id),
        user_name=sender.full_name,
        locale=sender.language_code,
        text=text,
        is_dm=private,
        addressed=addressed,
        message_id=str(message.message_id),
        attachments=tuple(attachments),
        context=context,
        address=address,
    )
    return Inbound(message=inbound, command=command)
