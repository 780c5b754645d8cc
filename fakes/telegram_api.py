"""A Bot API server for tests: the methods tertulia uses, with Telegram's reply shapes.

Routes: ``/bot<token>/<method>`` (GET or POST; query, JSON, form-encoded or multipart
parameters, as python-telegram-bot sends them: strings raw, the rest JSON-encoded) and
``/file/bot<token>/<file_path>``. Errors are ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}``. Message text is judged by fakes/telegram_validate.py.
A Python control API enqueues updates, scripts faults and reads what the bot did.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fakes.loopback import BackgroundApp
from fakes.telegram_updates import ApiError, UpdateFactory
from fakes.telegram_validate import ParseEntitiesError, utf16_len, visible_text
from fakes.waiting import wait_until

TOKEN = "123456:TEST-token_for-the-fake"
BOT = {"id": 123456, "is_bot": True, "first_name": "Tertulia", "username": "tertulia_test_bot",
       "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
MAX_TEXT = 4096
GROUP_MESSAGES_PER_MINUTE = 20  # what the fake enforces, like Telegram, with a 429
CLOUD_FILE_LIMIT = 20 * 1024 * 1024
JSON_PARAMS = {"entities", "caption_entities", "reply_parameters", "reply_markup", "link_preview_options",
               "allowed_updates", "commands", "scope", "disable_notification", "protect_content",
               "drop_pending_updates", "max_connections"}
INT_PARAMS = {"message_id", "draft_id", "message_thread_id", "offset", "limit", "timeout"}
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    ok: bool = True
    error: str | None = None


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in JSON_PARAMS:
        return json.loads(value)
    if name in INT_PARAMS:
        return int(value)
    if name in ("chat_id", "user_id"):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def check_markup(markup: Any) -> dict[str, Any] | None:
    """An InlineKeyboardMarkup as the Bot API checks it: rows of buttons, each with a text
    and (ours) callback_data of 1-64 bytes."""
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for button in (b for row in rows for b in row):
        if not str(button.get("text") or ""):
            raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        data = str(button.get("callback_data") or "")
        if not 1 <= len(data.encode()) <= 64:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return dict(markup)


class FakeTelegram(UpdateFactory):
    def __init__(self, *, port: int, host: str = "127.0.0.1", token: str = TOKEN) -> None:
        super().__init__(bot=BOT)
        self.host, self.port, self.token = host, port, token
        self.url = f"http://{host}:{port}"
        self.enforce_group_limit = True
        self._server = BackgroundApp(name="fake-telegram")
        self.reset()

    # --- control API -------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.reset_updates()
            self.calls: list[Call] = []
            self.faults: list[dict[str, Any]] = []
            self.webhook: dict[str, Any] = {}
            self.commands: dict[str, list[dict[str, Any]]] = {}
            self.drafts: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
            self.files: dict[str, dict[str, Any]] = {}
            self.file_bytes: dict[str, bytes] = {}
            self.callback_answers: dict[str, dict[str, Any]] = {}  # callback_query id -> the answer
            self._file_ids = itertools.count(1)
            self.enforce_group_limit = True
            self.missing_methods: set[str] = set()

    def predates(self, *methods: str) -> None:
        """Act as a self-hosted Bot API server older than ``methods`` (sendMessageDraft came
        with Bot API 9.3): each is answered as any unknown method is, 404 "Not Found: method
        not found" (telegram-bot-api's Client::on_cmd)."""
        with self.lock:
            self.missing_methods.update(m.lower() for m in methods)

    def fail_next(self, method: str, *, error_code: int, description: str, retry_after: int | None = None,
                  times: int = 1, when_entities: bool = False) -> None:
        """Script the next ``times`` calls of ``method`` to fail (optionally only calls
        that carry entities or a parse_mode, to script a formatting rejection)."""
        with self.lock:
            self.faults.append({"method": method.lower(), "code": error_code, "description": description,
                                "retry_after": retry_after, "left": times, "when_entities": when_entities})

    def add_file(self, content: bytes, *, name: str, mime_type: str = "text/plain",
                 size: int | None = None) -> dict[str, Any]:
        """A document as it appears in a Message; ``size`` may claim more than ``content``."""
        with self.lock:
            n = next(self._file_ids)
            file_id, path = f"BQACAgFILE{n:04d}", f"documents/file_{n}{name[name.rfind('.'):]}"
            meta = {"file_id": file_id, "file_unique_id": f"AgAD{n:04d}", "file_size": size or len(content),
                    "file_path": path}
            self.files[file_id] = meta
            self.file_bytes[path] = content
        return {"file_name": name, "mime_type": mime_type, "file_id": file_id, "file_unique_id": meta["file_unique_id"],
                "file_size": meta["file_size"]}

    def add_photo(self, content: bytes, *, width: int = 640, height: int = 480) -> list[dict[str, Any]]:
        """A photo as it appears in a Message: PhotoSize objects, smallest first (the Bot API
        sends a thumbnail and the sizes Telegram made; the largest is ``content``)."""
        large = self.add_file(content, name="photo.jpg", mime_type="image/jpeg")
        thumb = self.add_file(content[: max(len(content) // 4, 1)], name="thumb.jpg", mime_type="image/jpeg")
        return [{"file_id": f["file_id"], "file_unique_id": f["file_unique_id"], "file_size": f["file_size"],
                 "width": w, "height": h} for f, w, h in ((thumb, 90, 67), (large, width, height))]

    def calls_of(self, method: str, *, chat_id: int | None = None, ok: bool | None = True) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method.lower()
                    and (chat_id is None or c.params.get("chat_id") == chat_id) and (ok is None or c.ok == ok)]

    def wait_for(self, predicate: Any, *, timeout: float = 30.0, interval: float = 0.05) -> Any:
        return wait_until(predicate, timeout=timeout, interval=interval)

    # --- server lifecycle --------------------------------------------------------------

    def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._server.start(app, host=self.host, port=self.port, access_log=False)
        return self

    def stop(self) -> None:
        self._server.stop()

    # --- HTTP --------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            raw.update(await request.json())
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, str):
                    raw[key] = value
                elif isinstance(value, (bytes, bytearray)):
                    raw[key] = bytes(value)
                else:  # an uploaded file (multipart): its bytes
                    raw[key] = value.file.read()
        return {key: _coerce(key, value) for key, value in raw.items()}

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"].lower()
        try:
            params = await self._params(request)
        except (ValueError, json.JSONDecodeError) as exc:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": f"Bad Request: can't parse parameters: {exc}"}, status=400)
        call = Call(method=method, params=params, at=time.monotonic())
        try:
            if method == "getupdates":
                result = await self._get_updates(params)
            else:
                with self.lock:
                    self.calls.append(call)
                    self._scripted_fault(method, params)
                    handler = getattr(self, f"_m_{method}", None)
                    if handler is None or method in self.missing_methods:
                        raise ApiError(404, "Not Found: method not found")
                    result = handler(params)
        except ApiError as err:
            call.ok, call.error = False, err.description
            body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
            if err.retry_after is not None:
                body["parameters"] = {"retry_after": err.retry_after}
            return web.json_response(body, status=err.code)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        with self.lock:
            data = self.file_bytes.get(request.match_info["path"])
        if data is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _scripted_fault(self, method: str, params: dict[str, Any]) -> None:
        for fault in self.faults:
            if fault["method"] != method or fault["left"] <= 0:
                continue
            if fault["when_entities"] and not (params.get("entities") or params.get("parse_mode")):
                continue
            fault["left"] -= 1
            raise ApiError(fault["code"], fault["description"], fault["retry_after"])

    # --- methods (called with the lock held) -------------------------------------------

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self.lock:
            self.calls.append(Call(method="getupdates", params=params, at=time.monotonic()))
            if self.webhook.get("url"):
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                    "use deleteWebhook to delete the webhook first")
        while True:
            with self.lock:
                batch = self.take_updates(offset=params.get("offset"), limit=int(params.get("limit") or 100))
            if params.get("allowed_updates") is not None:  # remembered until changed, as Telegram does
                self.allowed_updates = list(params["allowed_updates"])
            batch = [u for u in batch if self._allowed(u)]
            if batch or time.monotonic() >= deadline:
                return batch
            await asyncio.sleep(0.02)

    def _allowed(self, update: dict[str, Any]) -> bool:
        """An update of a type the bot did not ask for is never delivered (an empty list: all
        but chat_member, message_reaction and message_reaction_count)."""
        kind = next(k for k in update if k != "update_id")
        allowed = self.allowed_updates
        if not allowed:
            return kind not in ("chat_member", "message_reaction", "message_reaction_count")
        return kind in allowed

    def _m_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.bot)

    def _m_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self.reset_updates()
        return True

    def _m_setwebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._m_deletewebhook(params)
        self.webhook = {"url": url, "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")}
        return True

    def _m_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    def _m_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 BotCommand")
        for command in commands:
            name, description = command.get("command", ""), command.get("description", "")
            if not (1 <= len(name) <= 32) or not all(c.islower() or c.isdigit() or c == "_" for c in name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not (1 <= len(description) <= 256):
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[str(params.get("language_code") or "")] = commands
        return True

    def _m_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(str(params.get("language_code") or ""), [])

    def _m_sendchataction(self, params: dict[str, Any]) -> bool:
        self.chat(params.get("chat_id"))
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _text(self, params: dict[str, Any], *, allow_empty: bool = False) -> str:
        try:
            text = visible_text(params)
        except ParseEntitiesError as err:
            raise ApiError(400, str(err)) from None
        if not text.strip() and not allow_empty:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    def _check_group_limit(self, chat_id: int) -> None:
        if not self.enforce_group_limit or chat_id > 0:
            return
        window = time.monotonic() - 60
        recent = [c.at for c in self.calls if c.ok and c.at > window and c.params.get("chat_id") == chat_id
                  and c.method in ("sendmessage", "editmessagetext")]
        if len(recent) > GROUP_MESSAGES_PER_MINUTE:  # this call is already in self.calls
            raise ApiError(429, "Too Many Requests: retry after 5", retry_after=max(1, int(recent[0] - window) + 1))

    def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.chat(params.get("chat_id"))
        text = self._text(params)
        markup = check_markup(params.get("reply_markup"))
        self._check_group_limit(chat["id"])
        reply = params.get("reply_parameters") or {}
        sent = self.bot_message(chat, text=text, entities=params.get("entities"),
                                thread_id=params.get("message_thread_id"), reply_to=reply.get("message_id"))
        if markup is not None:
            self.messages[chat["id"]][sent["message_id"]]["reply_markup"] = markup
            sent["reply_markup"] = markup
        return sent

    def _m_answercallbackquery(self, params: dict[str, Any]) -> bool:
        """A query is answered once, and only while it is fresh (15 s here, as in practice)."""
        query_id = str(params.get("callback_query_id") or "")
        query = self.queries.get(query_id)
        if query is None or query_id in self.callback_answers or time.monotonic() - query["at"] > 15:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        alert = str(params.get("show_alert")).lower() in ("true", "1")  # a form body carries "false"
        self.callback_answers[query_id] = {"text": params.get("text"), "show_alert": alert}
        return True

    def _m_sendmessagedraft(self, params: dict[str, Any]) -> bool:
        chat = self.chat(params.get("chat_id"))
        if chat["type"] != "private":
            raise ApiError(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        if not params.get("draft_id"):
            raise ApiError(400, "Bad Request: draft_id must be non-zero")
        text = self._text(params, allow_empty=True)
        self.drafts[chat["id"]][int(params["draft_id"])].append(text)
        return True

    def _m_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.chat(params.get("chat_id"))
        message = self.messages.get(chat["id"], {}).get(params.get("message_id") or 0)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        text = self._text(params)
        entities = params.get("entities") or None
        markup = check_markup(params.get("reply_markup"))
        if message.get("text") == text and message.get("entities") == entities \
                and message.get("reply_markup") == markup:  # fmt: skip
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        self._check_group_limit(chat["id"])
        message["text"], message["edit_date"] = text, int(time.time())
        if markup is not None:
            message["reply_markup"] = markup
        else:  # an edit without reply_markup takes the inline keyboard away
            message.pop("reply_markup", None)
        if entities:
            message["entities"] = entities
        else:
            message.pop("entities", None)
        return dict(message)

    def _m_deletemessage(self, params: dict[str, Any]) -> bool:
        """Bots delete their own messages (and, in private chats, incoming ones) sent less
        than 48 hours ago; anything else "can't be deleted"."""
        chat = self.chat(params.get("chat_id"))
        message = self.messages.get(chat["id"], {}).get(params.get("message_id") or 0)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        own = message.get("from", {}).get("id") == self.bot["id"]
        if not (own or chat["type"] == "private") or time.time() - message["date"] > 48 * 3600:
            raise ApiError(400, "Bad Request: message can't be deleted")
        del self.messages[chat["id"]][message["message_id"]]
        return True

    def _m_getfile(self, params: dict[str, Any]) -> dict[str, Any]:
        meta = self.files.get(str(params.get("file_id")))
        if meta is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if meta["file_size"] > CLOUD_FILE_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return dict(meta)
