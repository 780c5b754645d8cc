"""The worker side of Discord: answers by editing the interaction's original response
(PATCH /webhooks/{app}/{token}/messages/@original), continues past 2,000 characters in
follow-ups, and uses channel messages for mentions and once the 15-minute token is spent.

No gateway connection is needed: everything here is REST over httpx. Throttling and
splitting belong to core.delivery.StreamingReply; a Responder only makes calls.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from bots.discord.address import DiscordAddress, discord_address
from bots.discord.chain_reader import ChainReader
from bots.discord.chains import CHAIN_TTL_SECONDS, NAMESPACE, ReplyChains
from bots.discord.config import get_discord_config
from bots.discord.limits import (
    CHANNEL_MESSAGE_EDIT_INTERVAL,
    HISTORY_DEFAULT_MESSAGES,
    HISTORY_MAX_MESSAGES,
    INTERACTION_CALL_MARGIN,
    INTERACTION_EDIT_INTERVAL,
    INTERACTION_JOB_HEADROOM,
    INTERACTION_TOKEN_TTL,
    INVALID_WEBHOOK_TOKEN,
    MESSAGE_MAX_CHARS,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
)
from bots.discord.rest import DiscordBadRequest, DiscordForbidden, DiscordRest
from core.attachments import human_size
from core.delivery import STALE_MARKER
from core.errors import InputError
from core.jobs import Job
from core.messages import Attachment
from core.panel import STOP, Panel
from core.ports import PlatformResources, Transcript
from core.table import CONTINUED_ARG

log = logging.getLogger("tertulia.discord.delivery")

ORIGINAL = "@original"
_DEAD_TOKEN_CODES = (UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION, INVALID_WEBHOOK_TOKEN)
# Model output must never ping @everyone, roles or users.
_NO_MENTIONS: dict[str, Any] = {"parse": []}
_SECONDARY, _DANGER = 2, 4  # button styles


def components_of(panel: Panel | None) -> list[dict[str, Any]]:
    """The panel as one action row of buttons (type 1 holding type 2); a click comes back as
    a MESSAGE_COMPONENT interaction whose custom_id is the click's data. [] clears them."""
    if panel is None:
        return []
    buttons = [
        {"type": 2, "style": _DANGER if kind == STOP else _SECONDARY, "label": panel.label(kind),
         "custom_id": panel.data(kind)}
        for kind in panel.kinds
    ]  # fmt: skip
    return [{"type": 1, "components": buttons}]


class DiscordResponder:
    max_chars = MESSAGE_MAX_CHARS

    def __init__(
        self,
        *,
        rest: DiscordRest,
        job: Job,
        chains: ReplyChains,
        stored_refs: list[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rest = rest
        self._job = job
        self._chains = chains
        self._clock = clock
        address = self._address = discord_address(job.message.address)
        interaction = address.interaction
        self._channel = address.channel_id
        self._app_id = interaction.application_id if interaction is not None else 0
        self._token = interaction.token if interaction is not None else ""
        self._interaction = bool(self._token)
        created = interaction.created_at if interaction is not None else job.created_at
        self._token_expires = created + INTERACTION_TOKEN_TTL
        if self._interaction and self._clock() > self._token_expires - INTERACTION_JOB_HEADROOM:
            # The job would outlive the token: answer in the channel from the start.
            self._interaction = False
        # Mentions' answers join their reply chain; slash-command answers (even those
        # that fall back to the channel) are no chain's part.
        self._in_chain = (
            interaction is None and bool(job.message.thread) and not job.message.is_dm
        )
        # A Continue button's job speaks under the interaction whose original response holds
        # the cut answer: the rest is a follow-up, never an edit of that answer.
        self._original_used = ORIGINAL in stored_refs or CONTINUED_ARG in job.args
        self._replied = any(ref.startswith("c:") for ref in stored_refs)
        self._last: dict[str, str] = {}
        self._panels: dict[str, Panel | None] = {}  # ref -> the buttons it shows
        self._moved: dict[str, str] = {}  # interaction ref -> channel ref, once the token died
        self.update_interval = INTERACTION_EDIT_INTERVAL if self._interaction else CHANNEL_MESSAGE_EDIT_INTERVAL

    @property
    def destination(self) -> str:
        if self._interaction:
            # Discord buckets webhook edits per webhook id + token; a hash keeps the token
            # itself out of Redis key names (and out of anything that lists keys).
            return "webhook:" + hashlib.sha256(self._token.encode()).hexdigest()[:20]
        return f"channel:{self._channel}"

    def start(self) -> None:
        if not self._interaction:  # an interaction already shows "thinking..."
            self._rest.request("POST", f"/channels/{self._channel}/typing")

    def post(self, text: str, *, controls: Panel | None = None) -> str:
        if self._token_usable():
            try:
                return self._post_interaction(text, controls)
            except (DiscordBadRequest, DiscordForbidden) as err:
                if err.code not in _DEAD_TOKEN_CODES and err.status != 401:
                    raise
                self._token_died(err)
        return self._post_channel(text, controls)

    def update(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        self._edit(ref, text, controls)

    def finish(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        self._edit(ref, text, controls)

    def delete(self, ref: str) -> None:
        """DELETE the channel message, or the interaction's follow-up/original through its
        webhook while the token lives; 10008 Unknown Message means it is gone already. A
        piece Discord will not delete (or that a dead token can no longer reach) is edited
        to the stale marker where it still can be."""
        ref = self._moved.get(ref, ref)
        if ref.startswith("c:"):
            path, auth = f"/channels/{self._channel}/messages/{ref[2:]}", True
        elif self._token_usable():
            path, auth = self._webhook_path(ORIGINAL if ref == ORIGINAL else ref.removeprefix("w:")), False
        else:
            log.warning("a stale piece of an interaction outlived its token; it stays")
            return
        try:
            self._rest.request("DELETE", path, auth=auth)
        except (DiscordBadRequest, DiscordForbidden) as err:
            if err.code != UNKNOWN_MESSAGE:
                log.warning("could not delete a stale piece (%s); marking it", err)
                self._edit(ref, STALE_MARKER)
                return
        self._last.pop(ref, None)

    def close(self) -> None:
        """Nothing to release: the HTTP client is shared by every job of the process."""

    # --- calls -------------------------------------------------------------------------

    def _body(self, text: str, controls: Panel | None, ref: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"content": text, "allowed_mentions": _NO_MENTIONS}
        if controls is not None or (ref is not None and self._panels.get(ref) is not None):
            body["components"] = components_of(controls)  # [] takes shown buttons away
        return body

    def _post_interaction(self, text: str, controls: Panel | None) -> str:
        body = self._body(text, controls)
        if not self._original_used:
            self._rest.request("PATCH", self._webhook_path(ORIGINAL), json=body, auth=False)
            self._original_used = True
            ref = ORIGINAL
        else:
            path = f"/webhooks/{self._app_id}/{self._token}"
            created = self._rest.request("POST", path, json=body, params={"wait": "true"}, auth=False)
            ref = f"w:{created['id']}"
        self._last[ref], self._panels[ref] = text, controls
        return ref

    def _post_channel(self, text: str, controls: Panel | None = None) -> str:
        body = self._body(text, controls)
        target = self._reply_target()
        if target and not self._replied:
            # The first piece replies to what the user wrote (or to the interaction's
            # message), which is what ties the answer to its conversation on screen.
            body["message_reference"] = {"message_id": str(target), "fail_if_not_exists": False}
        created = self._rest.request("POST", f"/channels/{self._channel}/messages", json=body)
        self._replied = True
        message_id = str(created["id"])
        if self._in_chain:
            self._chains.remember(message_id, self._job.message.thread or "")
        ref = f"c:{message_id}"
        self._last[ref], self._panels[ref] = text, controls
        return ref

    def _edit(self, ref: str, text: str, controls: Panel | None = None) -> None:
        ref = self._moved.get(ref, ref)
        if not text.strip() or (self._last.get(ref) == text and self._panels.get(ref) == controls):
            return  # an empty or identical edit is an invalid request or a wasted one
        body = self._body(text, controls, ref)
        if ref.startswith("c:"):
            self._rest.request("PATCH", f"/channels/{self._channel}/messages/{ref[2:]}", json=body)
        elif self._token_usable():
            message = ORIGINAL if ref == ORIGINAL else ref.removeprefix("w:")
            try:
                self._rest.request("PATCH", self._webhook_path(message), json=body, auth=False)
            except (DiscordBadRequest, DiscordForbidden) as err:
                if err.code not in _DEAD_TOKEN_CODES and err.status != 401:
                    raise
                self._token_died(err)
                self._move(ref, text, controls)
                return
        else:
            self._move(ref, text, controls)
            return
        self._last[ref], self._panels[ref] = text, controls

    def _move(self, ref: str, text: str, controls: Panel | None = None) -> None:
        """The token is spent: this piece continues as a channel message."""
        self._moved[ref] = self._post_channel(text, controls)

    def _token_usable(self) -> bool:
        return self._interaction and self._clock() < self._token_expires - INTERACTION_CALL_MARGIN

    def _token_died(self, err: Exception) -> None:
        log.warning("interaction token no longer usable; answering in the channel: %s", err)
        self._interaction = False

    def _reply_target(self) -> int | None:
        return self._address.message_id or _response_message(self._address)

    def _webhook_path(self, message: str) -> str:
        return f"/webhooks/{self._app_id}/{self._token}/messages/{message}"


class DiscordDelivery:
    def __init__(self, *, rest: DiscordRest, chains: ReplyChains, load_refs: Callable[[str], list[str]]) -> None:
        self._rest = rest
        self._chains = chains
        self._load_refs = load_refs
        self._reader = ChainReader(rest=rest)

    def conversation(self, job: Job, *, max_file_bytes: int) -> Transcript | None:
        """A mention's reply chain, everyone's messages in it (bots/discord/chain_reader.py);
        None for DMs and slash commands, whose memory is the scope's."""
        address = discord_address(job.message.address)
        if job.message.is_dm or address.interaction is not None or not address.message_id:
            return None
        return self._reader.transcript(
            channel_id=address.channel_id, message_id=address.message_id, max_file_bytes=max_file_bytes
        )

    def responder(self, job: Job) -> DiscordResponder:
        return DiscordResponder(rest=self._rest, job=job, chains=self._chains, stored_refs=self._load_refs(job.id))

    def fetch_file(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if attachment.content is not None:
            data: bytes | None = attachment.content
        elif attachment.url:
            data = self._rest.download(attachment.url, max_bytes=max_bytes)
        else:
            raise InputError("file_unreadable", name=attachment.name)
        if data is None or len(data) > max_bytes:
            raise InputError("file_too_large", name=attachment.name, limit=human_size(max_bytes))
        return data

    def read_source(self, job: Job) -> str:
        """Recent channel messages (oldest first) or the replied-to message, as
        ``name: text`` lines."""
        address = discord_address(job.message.address)
        channel = address.channel_id
        if job.args.get("source") == "reply" and address.referenced_message_id:
            message = self._rest.request("GET", f"/channels/{channel}/messages/{address.referenced_message_id}")
            return _line(message)
        try:
            limit = int(job.args.get("messages") or HISTORY_DEFAULT_MESSAGES)
        except ValueError:
            limit = HISTORY_DEFAULT_MESSAGES
        limit = max(1, min(limit, HISTORY_MAX_MESSAGES))
        params: dict[str, str | int] = {"limit": limit}
        # Messages before the request itself (the user's message, or the interaction's
        # "thinking" response, which would otherwise take one of the N places).
        before = address.message_id or _response_message(address)
        if before:
            params["before"] = str(before)
        messages = self._rest.request("GET", f"/channels/{channel}/messages", params=params) or []
        lines = [_line(m) for m in reversed(messages)]  # Discord lists newest first
        return "\n".join(line for line in lines if line)


def _line(message: dict[str, Any]) -> str:
    content = str(message.get("content") or "").strip()
    if not content:
        return ""
    author = message.get("author") or {}
    name = author.get("global_name") or author.get("username") or "someone"
    return f"{name}: {content}"


def _response_message(address: DiscordAddress) -> int | None:
    return address.interaction.response_message_id if address.interaction is not None else None


def create_delivery(resources: PlatformResources) -> DiscordDelivery:
    config = get_discord_config()
    token = config.bot_token.get_secret_value() if config.bot_token else None
    rest = DiscordRest(base_url=config.api_url, token=token)
    chains = ReplyChains(memory=resources.memory(NAMESPACE, CHAIN_TTL_SECONDS))
    return DiscordDelivery(rest=rest, chains=chains, load_refs=resources.load_refs)
