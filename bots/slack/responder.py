"""The worker-side Responder for Slack: one job's answer into one place.

Three ways to deliver, chosen per job from its ``SlackAddress``:
- native streaming (chat.startStream / appendStream / stopStream) into a thread;
- chat.postMessage then chat.update (a top-level DM, or where streaming is refused);
- the slash command's response_url, when the bot is not a member of the channel.
Standard markdown goes to Slack's markdown-capable ``markdown_text`` field unchanged; only
response_url, which has no such field, gets mrkdwn converted by ``markdown_to_mrkdwn``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from markdown_to_mrkdwn import SlackMarkdownConverter
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bots.slack import limits
from bots.slack.address import slack_address
from bots.slack.api import NOT_A_MEMBER, call, error_code_of
from core import catalogue
from core.delivery import STALE_MARKER
from core.errors import BadRequest, Forbidden, RetryAfter, TransientDeliveryError
from core.jobs import Job
from core.panel import Panel
from core.ports import KeyValue
from core.refusals import Refusals
from core.table import CONTINUED_ARG

log = logging.getLogger("tertulia.slack.responder")

_converter = SlackMarkdownConverter()

# Stream refusals that say the workspace (or the API in front of it) has no streaming at
# all: remembered per process (core.refusals), not retried at every answer.
STREAMS_UNAVAILABLE = frozenset(
    {"unknown_method", "feature_not_enabled", "method_deprecated", "not_allowed_token_type", "not_supported"}
)


def to_mrkdwn(markdown: str) -> str:
    return str(_converter.convert(markdown))


@dataclass(kw_only=True)
class _Message:
    text: str  # what Slack shows now (for a stream: everything appended so far)
    streaming: bool = False
    stopped: bool = False
    controls: Panel | None = None  # the buttons it shows (then its text is a markdown block)


def actions_block(panel: Panel) -> dict[str, object]:
    """The panel as Block Kit buttons; a click comes back as ``block_actions`` whose
    action_id is the click's data (``tt:<kind>:<job id>``)."""
    elements = [
        {"type": "button", "action_id": panel.data(kind), "value": panel.job_id,
         "text": {"type": "plain_text", "text": panel.label(kind), "emoji": True}}
        for kind in panel.kinds
    ]  # fmt: skip
    return {"type": "actions", "block_id": "tertulia_controls", "elements": elements}


def blocks_of(text: str, panel: Panel | None) -> list[dict[str, object]]:
    """``markdown_text`` can't travel with blocks: the answer becomes a ``markdown`` block
    (standard markdown, the same 12,000 characters) above the buttons."""
    blocks: list[dict[str, object]] = [{"type": "markdown", "text": text}]
    return [*blocks, actions_block(panel)] if panel is not None else blocks


class SlackResponder:
    max_chars = limits.MAX_CHARS

    def __init__(
        self, *, client: WebClient, job: Job, streaming: bool, threads: KeyValue, refusals: Refusals | None = None
    ) -> None:
        self._client = client
        self._job = job
        self._threads = threads
        self._refusals = refusals if refusals is not None else Refusals(recheck_seconds=0)
        message = job.message
        self._address = slack_address(message.address)
        self._channel = message.channel
        self._thread_ts: str | None = self._address.thread_ts
        self._needs_header = self._address.command is not None
        # A regenerated answer lives in the thread of the answer it replaces; a Continue
        # button's rest in the thread of the answer it goes on with (not under a new header).
        earlier = job.replaces or job.args.get(CONTINUED_ARG)
        remembered = threads.get(job.id) or (threads.get(earlier) if earlier else None)
        if self._needs_header and remembered:
            self._thread_ts, self._needs_header = remembered, False
            threads.set(job.id, remembered)
        self._streams_key = f"streams:{job.message.workspace}"
        self._stream_ok = streaming and self._refusals.allows(self._streams_key)
        self._via_response_url = False
        self._messages: dict[str, _Message] = {}
        self._posted_by_url = 0
        # A stream cannot hold a button while it grows: Stop is a small message of its own
        # under it, deleted when the answer lands (chat.stopStream then appends the final buttons).
        # Remembered with the job, so that a retried attempt reuses it rather than leave one behind.
        self._stop_key = f"{job.id}:stop"
        self._stop_message: str | None = threads.get(self._stop_key) or None

    # --- the Responder protocol -------------------------------------------------------

    @property
    def destination(self) -> str:
        # Web API limits are per app, per workspace, per method: the workspace is the budget.
        return self._job.message.workspace or self._channel

    @property
    def update_interval(self) -> float:
        return limits.STREAM_INTERVAL if self._streams() else limits.UPDATE_INTERVAL

    def start(self) -> None:
        if self._address.assistant and self._thread_ts:
            # The assistant container shows this until our first message lands.
            call(
                self._client.assistant_threads_setStatus,
                channel_id=self._channel,
                thread_ts=self._thread_ts,
                status=catalogue.text("working", self._job.message.locale),
            )
        self._ensure_place()

    def post(self, text: str, *, controls: Panel | None = None) -> str:
        self._ensure_place()
        if self._via_response_url:
            ref = f"response_url:{len(self._messages)}"
            self._messages[ref] = _Message(text="")  # sent only when final (5 uses at most)
            return ref
        if self._streams():
            try:
                ref = self._start_stream(text)
            except BadRequest as err:  # streaming not available here: post and edit instead
                self._streams_refused("chat.startStream", err)
            else:
                self._show_stop(controls)
                return ref
        try:
            response = call(self._client.chat_postMessage, channel=self._channel, thread_ts=self._thread_ts,
                            **self._content(text, controls))  # fmt: skip
        except Forbidden as err:
            if not self._fallback_to_response_url(err):
                raise
            return self.post(text, controls=controls)
        ts = str(response["ts"])
        self._messages[ts] = _Message(text=text, controls=controls)
        return ts

    def update(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        sent = self._message(ref)
        if self._via_response_url or (sent.streaming and sent.stopped):
            return
        if sent.streaming:
            if text.startswith(sent.text) and text != sent.text:  # an append-only stream can only grow
                delta = text[len(sent.text) :]
                try:
                    call(self._client.chat_appendStream, channel=self._channel, ts=ref, markdown_text=delta)
                except BadRequest as err:
                    self._streams_refused("chat.appendStream", err)
                    self._end_stream(ref, sent)
                    call(self._client.chat_update, channel=self._channel, ts=ref, **self._content(text, controls, sent))
                    sent.controls = controls
                sent.text = text
            return
        if text == sent.text and controls == sent.controls:
            return
        call(self._client.chat_update, channel=self._channel, ts=ref, **self._content(text, controls, sent))
        sent.text, sent.controls = text, controls

    def finish(self, ref: str, text: str, *, controls: Panel | None = None) -> None:
        sent = self._message(ref)
        if ref.startswith("response_url:"):
            if sent.text != text:
                self._post_to_response_url(text)
                sent.text = text
            return
        if sent.streaming and not sent.stopped:
            final = {"blocks": [actions_block(controls)]} if controls is not None else {}
            if text.startswith(sent.text):
                delta = text[len(sent.text) :]
                try:
                    call(self._client.chat_stopStream, channel=self._channel, ts=ref, markdown_text=delta or None,
                         **final)  # fmt: skip
                    sent.text, sent.stopped, sent.controls = text, True, controls
                    self._drop_stop()
                    return
                except BadRequest as err:  # the message then gets its final text by chat.update
                    self._streams_refused("chat.stopStream", err)
            # The splitter re-cut this piece (a code fence closed at its end), or stopStream
            # refused the text: stop the stream as it is, then give the message its final text.
            self._end_stream(ref, sent)
        self._drop_stop()
        if text != sent.text or controls != sent.controls:
            call(self._client.chat_update, channel=self._channel, ts=ref, **self._content(text, controls, sent))
            sent.text, sent.controls = text, controls

    def delete(self, ref: str) -> None:
        """chat.delete (a bot may delete its own messages); a stream is stopped first. Where
        Slack refuses, the message is edited to the stale marker. A response_url piece
        cannot be reached again (and is only ever sent final), so it is left alone."""
        if ref.startswith("response_url:"):
            self._messages.pop(ref, None)
            return
        sent = self._message(ref)
        if sent.streaming and not sent.stopped:
            with contextlib.suppress(BadRequest):
                call(self._client.chat_stopStream, channel=self._channel, ts=ref)
            sent.stopped = True
        try:
            call(self._client.chat_delete, channel=self._channel, ts=ref)
        except (BadRequest, Forbidden) as err:
            if error_code_of(err) == "message_not_found":
                pass  # already gone
            else:
                log.warning("chat.delete refused (%s); marking the piece stale", error_code_of(err))
                call(self._client.chat_update, channel=self._channel, ts=ref, markdown_text=STALE_MARKER)
        self._messages.pop(ref, None)

    def close(self) -> None:
        self._drop_stop()
        for ts, sent in self._messages.items():
            if sent.streaming and not sent.stopped:  # a failed job must not leave a stream open
                try:
                    call(self._client.chat_stopStream, channel=self._channel, ts=ts)
                    sent.stopped = True
                except Exception:
                    log.warning("could not stop stream %s", ts, exc_info=True)

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _content(text: str, controls: Panel | None, sent: _Message | None = None) -> dict[str, object]:
        """A message's body: markdown_text, or with buttons (now or before, so that they go)
        the text as a markdown block, with ``text`` as the notification's fallback."""
        if controls is None and (sent is None or sent.controls is None):
            return {"markdown_text": text}
        return {"text": text[: limits.TEXT_TRUNCATED_AT], "blocks": blocks_of(text, controls)}

    def _show_stop(self, controls: Panel | None) -> None:
        if controls is None or self._stop_message is not None:
            return
        try:
            response = call(self._client.chat_postMessage, channel=self._channel, thread_ts=self._thread_ts,
                            text=controls.label(controls.kinds[0]), blocks=[actions_block(controls)])  # fmt: skip
            self._stop_message = str(response["ts"])
            self._threads.set(self._stop_key, self._stop_message)
        except (BadRequest, Forbidden):  # the answer matters more than its Stop button
            log.warning("the Stop button could not be posted", exc_info=True)

    def _drop_stop(self) -> None:
        ts, self._stop_message = self._stop_message, None
        if ts is None:
            return
        try:
            call(self._client.chat_delete, channel=self._channel, ts=ts)
            self._threads.set(self._stop_key, "")
        except BadRequest as err:
            if error_code_of(err) == "message_not_found":  # gone already
                self._threads.set(self._stop_key, "")
            else:
                log.warning("the Stop button could not be removed (%s)", error_code_of(err))
        except Exception:  # a leftover Stop button answers "already finished" when pressed
            log.warning("the Stop button could not be removed", exc_info=True)

    def _message(self, ref: str) -> _Message:
        """A ref posted by an earlier attempt of this job is unknown here: its stream, if it
        was one, is closed first (best effort) so that chat.update can replace its text."""
        if ref not in self._messages:
            if ref.startswith("response_url:"):
                self._via_response_url, self._needs_header = True, False
            else:
                with contextlib.suppress(BadRequest, Forbidden):  # not a stream, or closed already
                    call(self._client.chat_stopStream, channel=self._channel, ts=ref)
            self._messages[ref] = _Message(text="", stopped=True)
        return self._messages[ref]

    def _streams_refused(self, method: str, err: BadRequest) -> None:
        """A stream method refused: this answer goes on by chat.postMessage + chat.update,
        and where the refusal means no streaming at all, the process remembers it."""
        code = error_code_of(err)
        log.warning("%s refused (%s); falling back to chat.postMessage + chat.update", method, code)
        self._stream_ok = False
        if code in STREAMS_UNAVAILABLE:
            self._refusals.refused(self._streams_key)

    def _end_stream(self, ref: str, sent: _Message) -> None:
        """Stops a stream as it is (best effort: a refused stopStream leaves the message to
        chat.update) so that chat.update can give it its text."""
        with contextlib.suppress(BadRequest):
            call(self._client.chat_stopStream, channel=self._channel, ts=ref)
        sent.streaming, sent.stopped = False, True

    def _streams(self) -> bool:
        return self._stream_ok and self._thread_ts is not None and not self._via_response_url

    def _start_stream(self, text: str) -> str:
        message = self._job.message
        assert self._thread_ts is not None
        try:
            response = call(
                self._client.chat_startStream,
                channel=self._channel,
                thread_ts=self._thread_ts,
                markdown_text=text,
                # Required when streaming into a channel (the user the answer is for).
                recipient_user_id=message.user,
                recipient_team_id=message.workspace,
            )
        except Forbidden as err:
            if not self._fallback_to_response_url(err):
                raise
            return self.post(text)
        ts = str(response["ts"])
        self._messages[ts] = _Message(text=text, streaming=True)
        return ts

    def _ensure_place(self) -> None:
        """A slash command's answer goes in a thread under a short message naming the
        command and who asked; post that message once, or learn we must use response_url."""
        if not self._needs_header or self._via_response_url:
            return
        message = self._job.message
        command = " ".join((self._address.command or "").split())  # one line, inside backticks
        if len(command) > limits.HEADER_COMMAND_CHARS:
            command = command[: limits.HEADER_COMMAND_CHARS].rstrip() + "..."
        header = catalogue.text("asked_by", message.locale, command=f"`{command}`", user=f"<@{message.user}>")
        try:
            response = call(self._client.chat_postMessage, channel=self._channel, text=header)
        except Forbidden as err:
            if self._fallback_to_response_url(err):
                return
            raise
        self._thread_ts = str(response["ts"])
        self._needs_header = False
        self._threads.set(self._job.id, self._thread_ts)

    def _fallback_to_response_url(self, err: Forbidden) -> bool:
        if error_code_of(err) in NOT_A_MEMBER and self._address.response_url:
            log.info("bot is not in channel %s; answering through response_url", self._channel)
            self._via_response_url = True
            self._needs_header = False
            return True
        return False

    def _post_to_response_url(self, text: str) -> None:
        url = self._address.response_url
        if url is None or self._posted_by_url >= limits.RESPONSE_URL_MAX_USES:
            raise Forbidden("no response_url left")
        try:
            response = WebhookClient(url, timeout=15).send_dict(
                {"response_type": "in_channel", "replace_original": False, "text": to_mrkdwn(text)}
            )
        except OSError as err:
            raise TransientDeliveryError(f"response_url unreachable: {type(err).__name__}") from err
        if response.status_code == 429:
            raw = dict(response.headers or {}).get("Retry-After") or dict(response.headers or {}).get("retry-after")
            raise RetryAfter(_seconds(raw), "slack response_url")
        if response.status_code >= 500:
            raise TransientDeliveryError(f"response_url answered {response.status_code}")
        if response.status_code >= 400:
            raise Forbidden(f"response_url answered {response.status_code}: {response.body[:100]}")
        self._posted_by_url += 1


def _seconds(raw: object) -> float:
    try:
        return float(str(raw))
    except (TypeError, ValueError):
        return 1.0
