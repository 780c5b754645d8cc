"""The worker side of Telegram: streaming answers, files, replied-to text.

Private chats stream into a draft (``sendMessageDraft``, Bot API 9.3+) and persist the
answer with ``sendMessage``; groups post once and edit. Where a draft is refused (a
self-hosted Bot API server that predates the method), the answer is posted and edited as in
groups, and a server without the method is not asked again by this process. The shared throttle
(core.delivery.StreamingReply) decides *when*; these Responders only know *how*.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from bots.telegram.address import TelegramAddress, telegram_address
from bots.telegram.botapi import BotApi, EntityParseError, MethodNotFound, NotModified
from bots.telegram.config import get_telegram_config
from bots.telegram.formatting import Rendered, plain, render, split_plain
from core.attachments import human_size
from core.delivery import STALE_MARKER
from core.errors import BadRequest, InputError
from core.jobs import Job
from core.messages import Attachment
from core.panel import Panel
from core.ports import KeyValue, PlatformResources
from core.refusals import Refusals

log = logging.getLogger("tertulia.telegram.delivery")

T = TypeVar("T")

# Telegram's documented broadcast limits (core.telegram.org/bots/faq): about one message
# per second in a chat, and no more than 20 messages per minute in a group.
PRIVATE_MESSAGES_PER_SECOND = 1
GROUP_MESSAGES_PER_MINUTE = 20
PRIVATE_UPDATE_INTERVAL = 1.0 / PRIVATE_MESSAGES_PER_SECOND
GROUP_UPDATE_INTERVAL = 60.0 / GROUP_MESSAGES_PER_MINUTE
MAX_MESSAGE_CHARS = 4096  # MessageLimit.MAX_TEXT_LENGTH
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile serves at most 20 MB from the cloud API
FILE_URL_PREFIX = "telegram-file:"  # Attachment.url = prefix + file_id
DRAFTS = "sendMessageDraft"  # its key in the process's Refusals
DRAFTS_NAMESPACE = "telegram-draft"  # "<chat>:draft:<id>" -> the message ids it became


def file_url(file_id: str) -> str:
    return FILE_URL_PREFIX + file_id


def keyboard_of(panel: Panel | None) -> dict[str, Any] | None:
    """The panel as an inline keyboard (one row); a click comes back as a callback_query
    whose data is the click's data (at most 64 bytes: ``tt:<kind>:<32 hex>`` is 40)."""
    if panel is None:
        return None
    return {"inline_keyboard": [[{"text": panel.label(kind), "callback_data": panel.data(kind)}
                                 for kind in panel.kinds]]}


def _bodies(markdown: str, *, formatted: bool) -> list[Rendered]:
    return render(markdown) if formatted else [plain(part) for part in split_plain(markdown)]


class TelegramResponder:
    """One job's answer in one chat (or forum topic). Refs: a draft ("draft:<id>") in
    private chats until finished, else the Telegram message id."""

    max_chars = MAX_MESSAGE_CHARS

    def __init__(self, *, api: BotApi, address: TelegramAddress, refusals: Refusals, drafts: KeyValue) -> None:
        self._api = api
        self._refusals = refusals  # the process's: a server without drafts is not asked each time
        self._use_drafts = True  # False once this answer's draft was refused
        self._drafts = drafts  # a finished draft's message ids, for a later job that replaces them
        self._chat_id = address.chat_id
        self._private = address.private
        self._thread_id = address.message_thread_id
        self._reply_to = address.reply_to
        self.update_interval = PRIVATE_UPDATE_INTERVAL if self._private else GROUP_UPDATE_INTERVAL
        self._last: dict[str, str] = {}  # ref -> the markdown it last showed
        self._panels: dict[str, Panel | None] = {}  # ref -> the buttons under its last message
        self._finished: dict[str, list[int]] = {}  # ref -> message ids holding its final text

    @property
    def destination(self) -> str:
        # Groups: the whole group shares one budget (topics included), as Telegram counts.
        # The runner prefixes the platform.
        return str(self._chat_id)

    def start(self) -> None:
        self._api.call("sendChatAction", chat_id=self._chat_id, action="typing",
                       message_thread_id=self._thread_id)

    def post(self, text: str, *, controls: Panel | None = None) -> str:
        ref = ""
        if self._private and self._use_drafts and self._refusals.allows(DRAFTS):
            # A draft has no keyboard (sendMessageDraft takes none): in a private chat the
            # answer is stopped with /stop while it grows; its final message has the buttons.
            draft_id = secrets.randbelow(2**31 - 2) + 1  # non-zero; same id = animated changes
            ref = f"draft:{draft_id}"
            if not self._draft(draft_id, text):
                ref = ""
        if not ref:
            markup = keyboard_of(controls)
            ref = str(self._with_fallback(text, lambda bodies: self._send(bodies[0], first=True, markup=markup)))
            self._panels[ref] = controls
        self._last[ref] = text
        return ref

    def update(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        if ref.startswith("draft:") and not self._landed(ref):
            if self._last.get(ref) != text and not self._draft(int(ref.removeprefix("draft:")), text):
                # Refused mid-answer: the rest of this piece is a message, edited as it grows.
                markup = keyboard_of(controls)
                self._finished[ref] = [
                    self._with_fallback(text, lambda bodies: self._send(bodies[0], first=True, markup=markup))
                ]
                self._panels[ref] = controls
        elif self._last.get(ref) != text or self._panels.get(ref) != controls:
            markup = keyboard_of(controls)
            self._with_fallback(text, lambda bodies: self._edit(self._message_ids(ref)[0], bodies[0], markup))
            self._panels[ref] = controls
        self._last[ref] = text

    def finish(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        markup = keyboard_of(controls)
        if ref.startswith("draft:") and not self._landed(ref):
            # A draft is a 30-second preview: only sendMessage makes the answer stay.
            self._finished[ref] = self._with_fallback(text, lambda bodies: self._send_all(bodies, markup))
            self._drafts.set(self._draft_key(ref), json.dumps(self._finished[ref]))
        elif (self._last.get(ref) == text and self._panels.get(ref) == controls
              and len(self._message_ids(ref)) >= len(render(text))):  # fmt: skip
            self._finished.setdefault(ref, self._message_ids(ref))  # already showing it: no call
        else:
            self._finished[ref] = self._with_fallback(text, lambda bodies: self._replace(ref, bodies, markup))
            if ref.startswith("draft:"):  # a draft refused mid-answer became messages
                self._drafts.set(self._draft_key(ref), json.dumps(self._finished[ref]))
        self._last[ref], self._panels[ref] = text, controls

    def delete(self, ref: str) -> None:
        """deleteMessage for each message of the piece; one Telegram will not delete (older
        than 48 hours) is edited to the stale marker. A draft that never became a message
        is a preview that expires by itself: nothing to delete."""
        if ref.startswith("draft:") and not self._landed(ref):
            self._last.pop(ref, None)
            return
        for message_id in self._message_ids(ref):
            try:
                self._api.call("deleteMessage", chat_id=self._chat_id, message_id=message_id)
            except BadRequest as err:
                if "not found" in str(err).lower():
                    continue  # gone already
                log.warning("could not delete a stale piece (%s); marking it", err)
                self._edit(message_id, plain(STALE_MARKER))
        self._finished.pop(ref, None)
        self._last.pop(ref, None)

    def close(self) -> None:
        """Nothing to release: the HTTP client is shared by the process."""

    # --- helpers -----------------------------------------------------------------------

    def _with_fallback(self, markdown: str, action: Callable[[list[Rendered]], T]) -> T:
        try:
            return action(_bodies(markdown, formatted=True))
        except EntityParseError:
            # The converter produced something Telegram refuses: the same text, unformatted,
            # is still the whole answer.
            log.warning("telegram rejected the entities; resending as plain text")
            return action(_bodies(markdown, formatted=False))

    def _common(self) -> dict[str, Any]:
        return {"chat_id": self._chat_id, "message_thread_id": self._thread_id}

    def _draft(self, draft_id: int, markdown: str) -> bool:
        """False when the draft was refused: the caller sends a message instead. A server
        that does not know the method is not asked again for a while (``Refusals``); any other refusal of
        a preview costs only this answer's drafts."""
        try:
            self._with_fallback(markdown, lambda bodies: self._api.call(
                "sendMessageDraft", draft_id=draft_id, text=bodies[0].text,
                entities=bodies[0].entities or None, **self._common()))
        except MethodNotFound as err:
            log.warning("sendMessageDraft is not available (%s); sending and editing messages instead", err)
            self._refusals.refused(DRAFTS)
            self._use_drafts = False  # the error reply, if any, must not ask again either
            return False
        except BadRequest as err:
            if isinstance(err, NotModified):
                return True
            log.warning("sendMessageDraft refused (%s); sending and editing this answer instead", err)
            self._use_drafts = False
            return False
        return True

    def _send(self, body: Rendered, *, first: bool = False, markup: dict[str, Any] | None = None) -> int:
        reply_parameters = None
        if first and self._reply_to is not None and not self._private:
            reply_parameters = {"message_id": self._reply_to, "allow_sending_without_reply": True}
        result = self._api.call("sendMessage", text=body.text, entities=body.entities or None,
                                reply_parameters=reply_parameters, reply_markup=markup, **self._common())
        if reply_parameters is not None:
            self._reply_to = None  # only the answer's first message quotes the command
        return int(result["message_id"])

    def _send_all(self, bodies: list[Rendered], markup: dict[str, Any] | None = None) -> list[int]:
        last = len(bodies) - 1  # the buttons go under the piece's last message
        return [self._send(body, first=index == 0, markup=markup if index == last else None)
                for index, body in enumerate(bodies)]  # fmt: skip

    def _edit(self, message_id: int, body: Rendered, markup: dict[str, Any] | None = None) -> None:
        # An edit without reply_markup takes the keyboard away, as an earlier piece needs.
        with contextlib.suppress(NotModified):  # the message already shows exactly this
            self._api.call("editMessageText", chat_id=self._chat_id, message_id=message_id,
                           text=body.text, entities=body.entities or None, reply_markup=markup)

    def _message_ids(self, ref: str) -> list[int]:
        if self._landed(ref):
            return self._finished[ref]
        return [int(ref)]

    def _landed(self, ref: str) -> bool:
        """A draft that became messages (here, or in the job whose answer this one replaces)."""
        if ref in self._finished:
            return True
        stored = self._drafts.get(self._draft_key(ref)) if ref.startswith("draft:") else None
        if stored:
            self._finished[ref] = [int(i) for i in json.loads(stored)]
        return ref in self._finished

    def _draft_key(self, ref: str) -> str:
        return f"{self._chat_id}:{ref}"

    def _replace(self, ref: str, bodies: list[Rendered], markup: dict[str, Any] | None = None) -> list[int]:
        """Give ``ref`` its final text; a text that renders past 4,096 units continues in
        new messages right after it (before the next piece of the answer is posted)."""
        ids = self._message_ids(ref)
        last = len(bodies) - 1
        for index, body in enumerate(bodies):
            keys = markup if index == last else None
            if index < len(ids):
                self._edit(ids[index], body, keys)
            else:
                ids = [*ids, self._send(body, markup=keys)]
        return ids


class TelegramDelivery:
    def __init__(self, *, api: BotApi, drafts: KeyValue, draft_recheck_seconds: float = 600.0) -> None:
        self._api = api
        self._drafts = drafts
        self._refusals = Refusals(recheck_seconds=draft_recheck_seconds)  # one per process

    def responder(self, job: Job) -> TelegramResponder:
        return TelegramResponder(api=self._api, address=telegram_address(job.message.address),
                                 refusals=self._refusals, drafts=self._drafts)

    def fetch_file(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if attachment.content is not None:
            return attachment.content
        if not attachment.url or not attachment.url.startswith(FILE_URL_PREFIX):
            raise BadRequest(f"not a Telegram file reference: {attachment.name}")
        limit = min(max_bytes, CLOUD_DOWNLOAD_LIMIT)
        too_large = InputError("file_too_large", name=attachment.name, limit=human_size(limit))
        try:
            info = self._api.call("getFile", file_id=attachment.url.removeprefix(FILE_URL_PREFIX))
        except BadRequest as err:
            if "file is too big" in str(err).lower():
                raise too_large from err
            raise
        if int(info.get("file_size") or 0) > limit:
            raise too_large
        data = bytearray()
        with self._api.download(str(info["file_path"])) as response:
            for chunk in response.iter_bytes():
                data.extend(chunk)
                if len(data) > limit:
                    raise too_large
        return bytes(data)

    def read_source(self, job: Job) -> str:
        """Only "reply" exists on Telegram: the Bot API cannot read a chat's history, so the
        adapter stored the replied-to message's text in the job when it arrived."""
        address = telegram_address(job.message.address)
        text = (address.replied_text or "").strip()
        if job.args.get("source") != "reply" or not text:
            raise InputError("nothing_to_summarize")
        return f"{address.replied_author or 'user'}: {text}"


def create_delivery(resources: PlatformResources) -> TelegramDelivery:
    config = get_telegram_config()
    if config.bot_token is None:
        raise RuntimeError("TELEGRAM_BOT_TOKEN is not set")
    # httpx logs every request URL at INFO, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    api = BotApi(api_url=config.api_url, token=config.bot_token.get_secret_value())
    drafts = resources.memory(DRAFTS_NAMESPACE, resources.settings.job_ttl_seconds)
    return TelegramDelivery(api=api, drafts=drafts, draft_recheck_seconds=config.draft_recheck_seconds)
