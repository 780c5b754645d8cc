"""``tertulia slack``: the Slack adapter, in Socket Mode (SLACK_APP_TOKEN set) or HTTP mode.

Every listener acks first and only then touches the router, which itself only touches
Redis and enqueues: Slack's 3-second window never waits for a model.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_sdk import WebClient

from bots.slack import inbound
from bots.slack.api import make_client
from bots.slack.config import UMBRELLA, SlackConfig, get_slack_config
from bots.slack.http_server import HttpServer
from bots.slack.manifest import main as print_manifest
from bots.slack.texts import suggested_prompts
from bots.slack.threads import FollowedThreads
from core import catalogue
from core.controls import Click
from core.logfields import event_logging
from core.messages import InboundMessage
from core.panel import decode
from core.ports import Deduplicator
from core.router import Outcome, Router

log = logging.getLogger("tertulia.slack")

LOCALE_TTL = 3600.0  # seconds a user's locale (users.info) is remembered
COMMAND_REPLAY_SECONDS = 600  # a slash command's trigger_id is remembered this long
LOCALE_WAIT_SECONDS = 1.0  # of Slack's 3-second ack window, the most a locale lookup may take


class SlackAdapter:
    def __init__(
        self,
        *,
        router: Router,
        dedupe: Deduplicator,
        followed: FollowedThreads,
        config: SlackConfig | None = None,
        client: WebClient | None = None,
    ) -> None:
        self._router = router
        self._dedupe = dedupe
        self._followed = followed
        self._config = config or get_slack_config()
        self._client = client or make_client(self._config)
        self._locales: dict[str, tuple[float, str | None]] = {}
        self._locales_lock = threading.Lock()
        secret = self._config.signing_secret.get_secret_value() if self._config.signing_secret else ""
        self.app = App(client=self._client, signing_secret=secret, process_before_response=False)
        self._register()

    # --- wiring -------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.middleware(self._drop_replays)
        for slash, canonical in self._config.commands().items():
            app.command(slash)(self._command_listener(canonical))
        app.event("app_mention")(self._on_event)
        app.event("message")(self._on_event)
        app.event("assistant_thread_started")(self._on_assistant_thread_started)
        app.event("assistant_thread_context_changed")(lambda: None)
        app.shortcut(self._config.shortcut_summarize)(self._on_summarize_shortcut)
        app.action(re.compile(r"^tt:"))(self._on_control)

    def _drop_replays(self, body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        """Slack resends an event it thinks we missed (X-Slack-Retry-Num); its event_id is
        the same, so the second delivery is acknowledged and dropped. Runs after bolt's
        signature check, so a forged request cannot burn an event id."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not self._dedupe.first_time("slack-event", str(event_id)):
            log.info("dropping replayed Slack event %s", event_id)
            return BoltResponse(status=200, body="")
        next()
        return None

    # --- listeners ----------------------------------------------------------------------

    def _command_listener(self, canonical: str) -> Callable[..., None]:
        def on_command(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            with event_logging(platform=inbound.PLATFORM, event_id=str(body.get("trigger_id") or "")):
                command_routed(ack, body, respond)

        def command_routed(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            # Routed before the ack (the router touches Redis only, well inside Slack's 3
            # seconds), so a command that cannot be queued is told so instead of acked and lost.
            locale = self._locale_within(body.get("user_id"), LOCALE_WAIT_SECONDS)
            trigger = str(body.get("trigger_id") or "")
            try:
                replayed = trigger and not self._dedupe.first_time(
                    "slack-command", trigger, ttl_seconds=COMMAND_REPLAY_SECONDS
                )
                if replayed:
                    log.info("dropping a replayed slash command")
                    ack()  # its job exists already
                    return
                command = None if canonical == UMBRELLA else canonical
                parsed = inbound.from_slash_command(body, canonical=command, locale=locale)
                outcome = self._router.handle(parsed.message, command=parsed.command)
            except Exception:
                log.exception("a slash command could not be routed")
                ack(text=catalogue.text("temporarily_unavailable", locale), response_type="ephemeral")
                return
            ack()
            if outcome.reply:
                respond(text=outcome.reply, response_type="ephemeral")

        return on_command

    def _on_event(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        with event_logging(platform=inbound.PLATFORM, event_id=str(body.get("event_id") or "")):
            self._handle_event(body, context)

    def _handle_event(self, body: dict[str, Any], context: dict[str, Any]) -> None:
        # bolt has acked the event already (process_before_response=False).
        event = body.get("event") or {}
        if event.get("type") == "app_mention" and inbound.is_dm_channel(str(event.get("channel") or "")):
            return  # a DM arrives as a message.im event; answering both would answer twice
        bot_user_id = context.get("bot_user_id")
        if inbound.is_from_a_bot(event, bot_user_id):
            return
        followed = self._follows(event, bot_user_id)
        if followed is False:
            return  # channel chatter outside the threads the bot is part of: not for us
        locale = self._locale(event.get("user"))
        parsed = inbound.from_event(body, bot_user_id=bot_user_id, locale=locale, followed=bool(followed))
        if parsed is None:
            return
        try:
            outcome = self._router.handle(parsed.message, command=parsed.command)
        except Exception:  # the event is acked already: say so rather than drop it
            log.exception("an event could not be routed")
            outcome = Outcome(reply=catalogue.text("temporarily_unavailable", locale))
        message = parsed.message
        if outcome.job is not None and not message.is_dm and message.thread and message.message_id:
            # Answering here makes the bot part of the thread: later replies need no mention.
            self._followed.follow(message.channel, message.thread, message.message_id)
        if outcome.reply:
            self._client.chat_postMessage(
                channel=parsed.message.channel, thread_ts=parsed.thread_ts, text=outcome.reply
            )

    def _follows(self, event: dict[str, Any], bot_user_id: str | None) -> bool | None:
        """For a channel ``message`` event: True when it is a reply in a thread the bot is
        part of, False when it is anything else (the mention in it comes as app_mention).
        None for the events that are ours whatever the thread (mentions, DMs)."""
        channel = str(event.get("channel") or "")
        if event.get("type") != "message" or event.get("channel_type") == "im" or inbound.is_dm_channel(channel):
            return None
        thread = inbound.thread_of(event)
        if thread is None or inbound.mentions_bot(event, bot_user_id):
            return False
        return self._followed.joined_at(channel, thread) is not None

    def _on_summarize_shortcut(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user = (body.get("user") or {}).get("id")
        parsed = inbound.from_message_shortcut(body, locale=self._locale(user))
        outcome = self._router.handle(parsed.message, command=parsed.command)
        if outcome.reply:
            respond(text=outcome.reply, response_type="ephemeral")

    def _on_control(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        """A button under an answer (block_actions): acked first, then Stop, Regenerate, a
        vote or Continue; a refusal or a thank-you goes to the clicker alone."""
        ack()
        actions = body.get("actions") or [{}]
        parsed = decode(str(actions[0].get("action_id") or ""))
        if parsed is None:
            return
        user = body.get("user") or {}
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
        who = InboundMessage(
            platform=inbound.PLATFORM,
            workspace=str((body.get("team") or {}).get("id") or user.get("team_id") or ""),
            channel=channel,
            user=str(user.get("id") or ""),
            user_name=user.get("username") or user.get("name"),
            locale=self._locale_within(user.get("id"), LOCALE_WAIT_SECONDS),
            text="",
            is_dm=inbound.is_dm_channel(channel),
        )
        with event_logging(platform=inbound.PLATFORM, event_id=str(body.get("trigger_id") or "")):
            try:
                outcome = self._router.click(Click(kind=parsed[0], job_id=parsed[1], who=who))
            except Exception:
                log.exception("a control could not be handled")
                respond(text=catalogue.text("temporarily_unavailable", who.locale), response_type="ephemeral",
                        replace_original=False)  # fmt: skip
                return
        if outcome.text:
            respond(text=outcome.text, response_type="ephemeral", replace_original=False)

    def _on_assistant_thread_started(self, event: dict[str, Any]) -> None:
        thread = event.get("assistant_thread") or {}
        prompts = suggested_prompts(self._locale(thread.get("user_id")))
        if not prompts or not thread.get("channel_id") or not thread.get("thread_ts"):
            return
        self._client.assistant_threads_setSuggestedPrompts(
            channel_id=thread["channel_id"], thread_ts=thread["thread_ts"], prompts=prompts
        )

    # --- helpers ------------------------------------------------------------------------

    def _locale_within(self, user_id: object, seconds: float) -> str | None:
        """The user's locale (users.info, cached), waited for at most ``seconds``: the ack
        path can't wait on Slack's Web API. A slow lookup finishes in the background."""
        found: list[str | None] = []
        lookup = threading.Thread(target=lambda: found.append(self._locale(user_id)), daemon=True)
        lookup.start()
        lookup.join(seconds)
        return found[0] if found else None

    def _locale(self, user_id: object) -> str | None:
        """The user's Slack locale (users.info include_locale), cached; None on failure."""
        if not user_id:
            return None
        key = str(user_id)
        now = time.monotonic()
        with self._locales_lock:
            cached = self._locales.get(key)
            if cached and now - cached[0] < LOCALE_TTL:
                return cached[1]
        locale: str | None = None
        try:
            response = self._client.users_info(user=key, include_locale=True)
            locale = (response.get("user") or {}).get("locale")
        except Exception:
            log.info("users.info failed for %s; default locale", key)
        with self._locales_lock:
            self._locales[key] = (now, locale)
        return locale


def run_socket_mode(adapter: SlackAdapter, *, app_token: str, stop: threading.Event) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(adapter.app, app_token=app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    log.info("Slack Socket Mode connected")
    stop.wait()
    handler.close()  # type: ignore[no-untyped-call]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tertulia slack", description="Run the Slack adapter.")
    sub = parser.add_subparsers(dest="action")
    sub.add_parser("manifest", help="print manifest.yml with the slash commands of the command table")
    parser.add_argument("--http", action="store_true", help="HTTP mode even when SLACK_APP_TOKEN is set")
    parser.add_argument("--port", type=int, default=None, help="HTTP mode port (default TERTULIA_SLACK_PORT)")
    return parser


def main(
    argv: list[str], *, router: Callable[[], Router], dedupe: Deduplicator, followed: Callable[[], FollowedThreads]
) -> int:
    """Runs the adapter with what the composition root (tertulia/cli.py) hands it."""
    args = build_parser().parse_args(argv)
    if args.action == "manifest":
        return print_manifest()
    config = get_slack_config()
    if config.bot_token is None:
        log.error("SLACK_BOT_TOKEN is not set")
        return 2
    socket_mode = config.app_token is not None and not args.http
    if not socket_mode and config.signing_secret is None:
        log.error("HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)")
        return 2
    adapter = SlackAdapter(router=router(), dedupe=dedupe, followed=followed(), config=config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if socket_mode:
        assert config.app_token is not None
        run_socket_mode(adapter, app_token=config.app_token.get_secret_value(), stop=stop)
        return 0
    server = HttpServer(app=adapter.app, host=config.host, port=args.port or config.port)
    server.start()
    stop.wait()
    log.info("stopping the Slack HTTP server")
    server.stop()
    return 0
