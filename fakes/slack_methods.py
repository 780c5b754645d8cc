"""The Slack Web API methods the fake serves, over its in-memory workspace: messages
(with streams), users and the assistant methods. Shapes and error codes follow
docs.slack.dev's method reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0TEST"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    thread_ts: str | None = None
    streaming: bool = False
    files: list[dict[str, Any]] = field(default_factory=list)
    edits: int = 0
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def buttons(self) -> list[dict[str, Any]]:
        """The buttons of the message's actions blocks, in order."""
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements") or []
                if e.get("type") == "button"]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user:
            data["user"] = self.user
        if self.bot_id:
            data["bot_id"] = self.bot_id
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.files:
            data["files"] = self.files
        if self.blocks:
            data["blocks"] = self.blocks
        return data


class SlackError(Exception):
    """Answered as ``{"ok": false, "error": <message>}`` with HTTP 200, as Slack does."""


class WebApiMethods:
    """Mixed into FakeSlackAPI, which holds the state and the lock these run under."""

    messages: list[Message]
    users: dict[str, dict[str, Any]]
    not_member: set[str]
    streaming_enabled: bool

    _next_ts: Callable[[], str]  # FakeSlackAPI's clock of message timestamps

    def _find(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://test.slack.com/", "team": "Test", "user": "tertulia", "team_id": TEAM_ID,
                "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _channel(self, p: dict[str, Any]) -> str:
        channel = str(p.get("channel") or p.get("channel_id") or "")
        if not channel:
            raise SlackError("channel_not_found")
        if channel in self.not_member:
            raise SlackError("not_in_channel")
        return channel

    def _post(self, channel: str, text: str, thread_ts: str | None, *, streaming: bool = False) -> Message:
        message = Message(channel=channel, ts=self._next_ts(), text=text, user=BOT_USER_ID, bot_id=BOT_ID,
                          thread_ts=thread_ts or None, streaming=streaming)
        self.messages.append(message)
        return message

    @staticmethod
    def _content(p: dict[str, Any]) -> str:
        given = [k for k in ("text", "markdown_text", "blocks") if p.get(k)]
        if "markdown_text" in given and len(given) > 1:
            raise SlackError("markdown_text_conflict")
        if len(str(p.get("markdown_text") or "")) > 12_000:
            raise SlackError("markdown_text_too_long")
        if not given:
            raise SlackError("no_text")
        if p.get("blocks"):
            _check_blocks(p["blocks"])
        return str(p.get("markdown_text") or p.get("text") or "")

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._post(self._channel(p), self._content(p), p.get("thread_ts"))
        message.blocks = list(p.get("blocks") or [])
        return {"channel": message.channel, "ts": message.ts, "message": message.to_json()}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._find(self._channel(p), str(p.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.streaming:
            raise SlackError("cant_update_message")  # a stream is changed by appendStream/stopStream only
        message.text = self._content(p)
        message.blocks = list(p.get("blocks") or [])  # an update replaces the message's blocks
        message.edits += 1
        return {"channel": message.channel, "ts": message.ts, "text": message.text}

    def _m_chat_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        """A bot token deletes only the bot's own messages (cant_delete_message otherwise)."""
        message = self._find(self._channel(p), str(p.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.bot_id != BOT_ID:
            raise SlackError("cant_delete_message")
        self.messages.remove(message)
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_startStream(self, p: dict[str, Any]) -> dict[str, Any]:
        if not self.streaming_enabled:
            raise SlackError("feature_not_enabled")
        channel = self._channel(p)
        if not p.get("thread_ts"):
            raise SlackError("invalid_arguments")
        if not channel.startswith("D") and not (p.get("recipient_user_id") and p.get("recipient_team_id")):
            raise SlackError("missing_recipient_user_id")  # required when streaming to channels
        if len(str(p.get("markdown_text") or "")) > 12_000:
            raise SlackError("markdown_text_too_long")
        message = self._post(channel, str(p.get("markdown_text") or ""), str(p["thread_ts"]), streaming=True)
        return {"channel": channel, "ts": message.ts}

    def _streaming(self, p: dict[str, Any]) -> Message:
        message = self._find(self._channel(p), str(p.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if not message.streaming:
            raise SlackError("message_not_in_streaming_state")
        return message

    def _m_chat_appendStream(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(p)
        text = str(p.get("markdown_text") or "")
        if not text:
            raise SlackError("invalid_arguments")  # markdown_text is required
        if len(text) > 12_000:
            raise SlackError("markdown_text_too_long")
        message.text += text
        message.edits += 1
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_stopStream(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._streaming(p)
        if p.get("blocks"):
            _check_blocks(p["blocks"])
            message.blocks.extend(p["blocks"])  # appended at the end of the message
        message.text += str(p.get("markdown_text") or "")
        message.streaming = False
        return {"channel": message.channel, "ts": message.ts, "message": message.to_json()}

    def _page(self, found: list[Message], p: dict[str, Any]) -> dict[str, Any]:
        limit = min(int(p.get("limit") or 100), 1000)
        start = int(p.get("cursor") or 0)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {"messages": [m.to_json() for m in page], "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        """The parent, then the replies in ``oldest``..``latest`` (bounds excluded unless
        ``inclusive``), oldest first; the parent leads the first page only (a cursor's pages
        omit it). Clients filter the parent by its ts themselves: whether the range applies to
        it is not something ours relies on."""
        channel, ts = self._channel(p), str(p.get("ts") or "")
        parent = self._find(channel, ts)
        if parent is None:
            raise SlackError("thread_not_found")
        inclusive = str(p.get("inclusive")).lower() in ("1", "true")
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")

        def in_range(m: Message) -> bool:
            at = float(m.ts)
            return (oldest <= at <= latest) if inclusive else oldest < at < latest

        replies = [m for m in self.messages
                   if m.channel == channel and m.thread_ts == ts and m.ts != ts and in_range(m)]
        return self._page([parent, *sorted(replies, key=lambda m: float(m.ts))], p)

    def _m_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(p)
        oldest = float(p.get("oldest") or 0)
        top = [m for m in self.messages if m.channel == channel and (m.thread_ts in (None, m.ts))
               and float(m.ts) >= oldest]
        return self._page(sorted(top, key=lambda m: float(m.ts), reverse=True), p)

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        data = dict(user)
        if str(p.get("include_locale")).lower() not in ("1", "true"):
            data.pop("locale", None)
        return {"user": data}

    def _m_assistant_threads_setStatus(self, p: dict[str, Any]) -> dict[str, Any]:
        self._channel(p)
        if not p.get("thread_ts") or "status" not in p:
            raise SlackError("invalid_arguments")
        return {}

    def _m_assistant_threads_setSuggestedPrompts(self, p: dict[str, Any]) -> dict[str, Any]:
        self._channel(p)
        prompts = p.get("prompts")
        if not p.get("thread_ts") or not isinstance(prompts, list) or not 1 <= len(prompts) <= 4:
            raise SlackError("invalid_arguments")
        return {}


def _check_blocks(blocks: Any) -> None:
    """Block Kit's limits on what we send (docs.slack.dev/reference/block-kit): 50 blocks, a
    markdown block's text up to 12,000 characters, an actions block up to 25 elements, a
    button's text up to 75 characters, its action_id 255 and value 2,000."""
    if not isinstance(blocks, list) or not blocks or len(blocks) > 50:
        raise SlackError("invalid_blocks")
    for block in blocks:
        kind = block.get("type")
        if kind == "markdown":
            if not isinstance(block.get("text"), str) or len(block["text"]) > 12_000:
                raise SlackError("invalid_blocks")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 25:
                raise SlackError("invalid_blocks")
            for element in elements:
                text = (element.get("text") or {}).get("text") or ""
                if element.get("type") != "button" or not 1 <= len(text) <= 75:
                    raise SlackError("invalid_blocks")
                if len(str(element.get("action_id") or "")) > 255 or len(str(element.get("value") or "")) > 2000:
                    raise SlackError("invalid_blocks")
        elif kind not in ("section", "context", "divider", "rich_text", "header"):
            raise SlackError("invalid_blocks")
