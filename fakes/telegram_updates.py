"""The fake Bot API's world: chats, users, messages and the update queue, built the way
Telegram builds them (per-chat message ids, bot_command/mention entities in UTF-16
offsets, forum topic posts whose reply_to_message is the topic's creation message)."""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from typing import Any

_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def auto_entities(text: str) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    command = _COMMAND.match(text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": _u16(command.group(0))})
    for match in _MENTION.finditer(text):
        entities.append({"type": "mention", "offset": _u16(text[: match.start()]), "length": _u16(match.group(0))})
    return entities


def user(user_id: int, first_name: str = "Ana", *, language_code: str = "en",
         username: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}
    if username:
        data["username"] = username
    return data


class UpdateFactory:
    def __init__(self, *, bot: dict[str, Any]) -> None:
        self.bot = bot
        self.lock = threading.RLock()
        # Never restarted, not even by a reset: a running poller's offset only goes up. A
        # random start keeps two fakes in one test session from reusing ids (deduplicated).
        self._update_ids = itertools.count(random.randrange(10**6, 10**9, 10**5))

    def reset_updates(self) -> None:
        with self.lock:
            self.updates: list[dict[str, Any]] = []
            self.allowed_updates: list[str] = []  # what the last getUpdates / setWebhook asked for
            self.queries: dict[str, dict[str, Any]] = {}  # callback_query id -> {"at": monotonic}
            self.chats: dict[int, dict[str, Any]] = {}
            self.messages: dict[int, dict[int, dict[str, Any]]] = {}
            self._message_ids: dict[int, itertools.count[int]] = {}

    # --- chats ---------------------------------------------------------------------------

    def chat(self, chat_id: Any) -> dict[str, Any]:
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def private_chat(self, person: dict[str, Any]) -> dict[str, Any]:
        chat = {"id": person["id"], "type": "private", "first_name": person["first_name"]}
        with self.lock:
            self.chats[chat["id"]] = chat
        return chat

    def group(self, chat_id: int, title: str = "Team", *, forum: bool = False) -> dict[str, Any]:
        assert chat_id < 0, "group chat ids are negative"
        chat: dict[str, Any] = {"id": chat_id, "type": "supergroup", "title": title}
        if forum:
            chat["is_forum"] = True
        with self.lock:
            self.chats[chat_id] = chat
        return chat

    def create_topic(self, chat: dict[str, Any], name: str, creator: dict[str, Any]) -> int:
        """A forum topic; its id (message_thread_id) is its creation message's id."""
        message = self._new_message(chat, creator)
        message["forum_topic_created"] = {"name": name, "icon_color": 7322096}
        message["message_thread_id"] = message["message_id"]
        message["is_topic_message"] = True
        return int(message["message_id"])

    # --- messages ------------------------------------------------------------------------

    def _new_message(self, chat: dict[str, Any], sender: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            counter = self._message_ids.setdefault(chat["id"], itertools.count(1))
            message_id = next(counter)
            message = {"message_id": message_id, "date": int(time.time()), "chat": dict(chat), "from": dict(sender)}
            self.messages.setdefault(chat["id"], {})[message_id] = message
        return message

    def _place(self, message: dict[str, Any], chat: dict[str, Any], thread_id: int | None,
                reply_to: int | None) -> None:
        stored = self.messages.get(chat["id"], {})
        if reply_to is not None:
            if reply_to not in stored:
                raise ApiError(400, "Bad Request: message to be replied not found")
            replied = {k: v for k, v in stored[reply_to].items() if k != "reply_to_message"}
            message["reply_to_message"] = replied
        if thread_id is not None and chat.get("is_forum"):
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
            if "reply_to_message" not in message and thread_id in stored:
                message["reply_to_message"] = dict(stored[thread_id])  # Telegram's forum quirk

    def user_message(self, chat: dict[str, Any], sender: dict[str, Any], text: str | None = None, *,
                     caption: str | None = None, document: dict[str, Any] | None = None,
                     photo: list[dict[str, Any]] | None = None, thread_id: int | None = None,
                     reply_to: int | None = None) -> dict[str, Any]:
        """A user's message; its update is queued for getUpdates and returned (to post to a
        webhook instead, use the returned dict)."""
        with self.lock:
            message = self._new_message(chat, sender)
            if text is not None:
                message["text"] = text
                if entities := auto_entities(text):
                    message["entities"] = entities
            if caption is not None:
                message["caption"] = caption
                if entities := auto_entities(caption):
                    message["caption_entities"] = entities
            if document is not None:
                message["document"] = document
            if photo is not None:
                message["photo"] = photo  # PhotoSize objects, smallest first
            self._place(message, chat, thread_id, reply_to)
            update = {"update_id": next(self._update_ids), "message": message}
            self.updates.append(update)
        return update

    def bot_message(self, chat: dict[str, Any], *, text: str, entities: list[dict[str, Any]] | None = None,
                    thread_id: int | None = None, reply_to: int | None = None) -> dict[str, Any]:
        message = self._new_message(chat, {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")})
        message["text"] = text
        if entities:
            message["entities"] = entities
        self._place(message, chat, thread_id, reply_to)
        return dict(message)

    def press(self, chat: dict[str, Any], message_id: int, sender: dict[str, Any], data: str) -> str:
        """``sender`` presses the inline button with ``data`` under one of the bot's messages:
        a callback_query update (its id is returned). A client can only send a button's own data."""
        with self.lock:
            message = self.messages.get(chat["id"], {}).get(message_id)
            rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
            if not any(b.get("callback_data") == data for row in rows for b in row):
                raise AssertionError(f"message {message_id} has no button with data {data!r}")
            query_id = str(next(self._update_ids) * 7919)
            self.queries[query_id] = {"at": time.monotonic()}
            query = {"id": query_id, "from": dict(sender), "message": dict(message or {}),
                     "chat_instance": str(-chat["id"] * 31), "data": data}
            self.updates.append({"update_id": next(self._update_ids), "callback_query": query})
        return query_id

    def take_updates(self, *, offset: int | None, limit: int) -> list[dict[str, Any]]:
        """getUpdates semantics: an offset confirms (forgets) every update before it."""
        if offset is not None:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        return list(self.updates[:limit])

    def redeliver(self, update: dict[str, Any]) -> None:
        """Queue an update again with its original update_id (as after a lost confirmation)."""
        with self.lock:
            self.updates.append(update)

    def bot_messages(self, chat_id: int, *, thread_id: int | None = None) -> list[dict[str, Any]]:
        """The bot's messages in a chat (or topic), in order, as they read now (copies:
        text and entities after the last edit)."""
        with self.lock:
            found = [dict(m) for m in self.messages.get(chat_id, {}).values()
                     if m["from"]["id"] == self.bot["id"]
                     and (thread_id is None or m.get("message_thread_id") == thread_id)]
        return sorted(found, key=lambda m: m["message_id"])

    def bot_texts(self, chat_id: int, *, thread_id: int | None = None) -> list[str]:
        """The bot's messages in a chat (or topic), in order, as they read now."""
        return [m["text"] for m in self.bot_messages(chat_id, thread_id=thread_id)]
