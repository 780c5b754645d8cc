"""The worker side of Slack: answers (Responder), files (url_private) and the text a
summary reads (a thread or the channel's recent history)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient

from bots.slack.api import call, make_client
from bots.slack.config import SlackConfig, get_slack_config
from bots.slack.responder import SlackResponder
from bots.slack.threads import FOLLOW_TTL_SECONDS, NAMESPACE, FollowedThreads, thread_posts
from core.attachments import human_size
from core.errors import BadRequest, Forbidden, InputError, RetryAfter, TransientDeliveryError
from core.jobs import Job
from core.messages import Attachment
from core.ports import KeyValue, PlatformResources, Transcript
from core.refusals import Refusals

log = logging.getLogger("tertulia.slack.delivery")

PAGE_SIZE = 200  # conversations.replies / history: Slack recommends no more than 200 per page
FILE_TIMEOUT = 60.0
FILE_CHUNK = 64 * 1024
READ_ATTEMPTS = 5  # conversations.* calls survive this many 429s in a row


class SlackDelivery:
    def __init__(
        self, *, client: WebClient, config: SlackConfig, threads: KeyValue, followed: FollowedThreads | None = None
    ) -> None:
        self._client = client
        self._threads = threads
        self._followed = followed  # None: no thread is read back (memory alone)
        self._config = config
        self._names: dict[str, str] = {}
        self._names_lock = threading.Lock()
        self._identity: tuple[str, str] | None = None
        # One per process: a workspace that refused streaming is not asked at every answer.
        self._refusals = Refusals(recheck_seconds=config.stream_recheck_seconds)

    def responder(self, job: Job) -> SlackResponder:
        return SlackResponder(
            client=self._client, job=job, streaming=self._config.streaming, threads=self._threads,
            refusals=self._refusals,
        )

    # --- files --------------------------------------------------------------------------

    def fetch_file(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        if attachment.content is not None:
            return attachment.content
        if not attachment.url:
            raise BadRequest("attachment has neither content nor url")
        if not self._is_slack_url(attachment.url):
            # The bot token goes only where Slack keeps files, never to any URL in a payload.
            raise Forbidden("refusing to send the bot token to a non-Slack host")
        too_large = InputError("file_too_large", name=attachment.name, limit=human_size(max_bytes))
        if attachment.size > max_bytes:
            raise too_large
        token = self._config.bot_token.get_secret_value() if self._config.bot_token else ""
        data = bytearray()
        try:
            with (
                httpx.Client(timeout=FILE_TIMEOUT, follow_redirects=True) as http,
                http.stream("GET", attachment.url, headers={"Authorization": f"Bearer {token}"}) as response,
            ):
                if response.status_code == 429 or response.status_code >= 500:
                    raise TransientDeliveryError(f"file download answered {response.status_code}")
                if response.status_code >= 400:
                    raise Forbidden(f"file download answered {response.status_code}")
                if "text/html" in response.headers.get("content-type", "") and not attachment.name.endswith(".html"):
                    # Slack answers a bad token with its HTML login page and a 200.
                    raise Forbidden("file download returned a login page: check the files:read scope")
                for chunk in response.iter_bytes(FILE_CHUNK):
                    data.extend(chunk)
                    if len(data) > max_bytes:  # stop reading: the size in the event can lie
                        raise too_large
        except httpx.TransportError as err:
            raise TransientDeliveryError(f"file download failed: {type(err).__name__}") from err
        return bytes(data)

    def _is_slack_url(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        api_host = (urlsplit(self._config.api_url).hostname or "").lower()
        return host == api_host or host == "slack.com" or host.endswith(".slack.com")

    # --- what a summary reads -------------------------------------------------------------

    def read_source(self, job: Job) -> str:
        source = job.args.get("source")
        message = job.message
        if source == "thread" and message.thread:
            messages = self._paged(
                self._client.conversations_replies,
                limit_total=self._config.thread_max_messages,
                channel=message.channel,
                ts=message.thread,
            )
        elif source in ("channel", "thread"):
            oldest = time.time() - self._config.channel_window_hours * 3600
            messages = self._paged(
                self._client.conversations_history,
                limit_total=self._config.channel_window_messages,
                channel=message.channel,
                oldest=f"{oldest:.6f}",
            )
            messages.sort(key=lambda m: float(m.get("ts") or 0))  # history comes newest first
        else:
            raise BadRequest(f"unknown summary source {source!r}")
        lines = [self._line(m) for m in messages if self._is_readable(m, job)]
        if not lines:
            raise InputError("nothing_to_summarize")
        return "\n".join(lines)

    # --- a thread the bot is part of, as the model's history ---------------------------------

    def conversation(self, job: Job, *, max_file_bytes: int) -> Transcript | None:
        """The channel thread's messages since the bot joined it, up to the job's own
        (conversations.replies); None outside a followed channel thread."""
        message = job.message
        if self._followed is None or message.is_dm or not message.thread or not message.message_id:
            return None
        joined = self._followed.joined_at(message.channel, message.thread)
        if joined is None:
            return None
        replies = self._paged(
            self._client.conversations_replies,
            limit_total=self._config.thread_max_messages,
            channel=message.channel,
            ts=message.thread,
            oldest=joined,
            inclusive=True,
        )
        bot_user_id, bot_id = self._me()
        posts = thread_posts(
            replies, since=joined, before=message.message_id, bot_user_id=bot_user_id, bot_id=bot_id, name=self._name
        )
        return Transcript(posts=posts, author=self._name(message.user))

    def _me(self) -> tuple[str, str]:
        """The bot's user id and bot id (auth.test, once): its own posts are its answers."""
        if self._identity is None:
            found = call(self._client.auth_test)
            self._identity = (str(found.get("user_id") or ""), str(found.get("bot_id") or ""))
        return self._identity

    def _paged(self, method: Any, *, limit_total: int, **kwargs: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(messages) < limit_total:
            page = min(PAGE_SIZE, limit_total - len(messages))
            response = self._read(method, limit=page, cursor=cursor, **kwargs)
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor or not response.get("has_more", True):
                break
        return messages[:limit_total]

    @staticmethod
    def _read(method: Any, **kwargs: Any) -> Any:
        """One read call; a 429 here is waited out in place (reads are not streamed, so
        there is no shared throttle to hand it to)."""
        for _ in range(READ_ATTEMPTS - 1):
            try:
                return call(method, **kwargs)
            except RetryAfter as err:
                time.sleep(min(err.seconds, 30.0))
        return call(method, **kwargs)

    @staticmethod
    def _is_readable(message: dict[str, Any], job: Job) -> bool:
        if not str(message.get("text") or "").strip():
            return False
        if message.get("subtype") in ("channel_join", "channel_leave", "channel_topic", "channel_purpose"):
            return False
        # The request itself ("@tertulia summarize") is not part of what to summarise.
        return not (job.message.message_id and message.get("ts") == job.message.message_id)

    def _line(self, message: dict[str, Any]) -> str:
        if message.get("user"):
            name = self._name(str(message["user"]))
        else:
            name = str(message.get("username") or (message.get("bot_profile") or {}).get("name") or "bot")
        return f"{name}: {str(message.get('text') or '').strip()}"

    def _name(self, user_id: str) -> str:
        with self._names_lock:
            if user_id in self._names:
                return self._names[user_id]
        name = user_id
        try:
            user = call(self._client.users_info, user=user_id).get("user") or {}
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("name") or user_id
        except (Forbidden, BadRequest, TransientDeliveryError):
            log.info("users.info failed for %s; using the id", user_id)
        with self._names_lock:
            self._names[user_id] = str(name)
        return str(name)


THREADS_NAMESPACE = "slack-thread"  # a job's answer thread: kept as long as the job


def create_delivery(resources: PlatformResources) -> SlackDelivery:
    config = get_slack_config()
    return SlackDelivery(
        client=make_client(config),
        config=config,
        threads=resources.memory(THREADS_NAMESPACE, resources.settings.job_ttl_seconds),
        followed=FollowedThreads(memory=resources.memory(NAMESPACE, FOLLOW_TTL_SECONDS)),
    )
