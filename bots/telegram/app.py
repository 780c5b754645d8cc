"""`tertulia telegram`: the Telegram adapter (python-telegram-bot 22).

Polling by default; a webhook server when TELEGRAM_WEBHOOK_URL is set (PTB's own tornado
server, which answers 403 to a request without the right
X-Telegram-Bot-Api-Secret-Token before anything is queued). Each message is normalised
(bots/telegram/inbound.py), deduplicated by update_id and handed to the core's router.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, CallbackQuery, ReplyParameters, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bots.telegram.address import telegram_address
from bots.telegram.config import TelegramConfig, get_telegram_config
from bots.telegram.delivery import CLOUD_DOWNLOAD_LIMIT
from bots.telegram.inbound import Inbound, to_inbound
from core import catalogue
from core.attachments import human_size
from core.controls import Click
from core.logfields import event_logging
from core.messages import InboundMessage
from core.panel import decode
from core.ports import Deduplicator
from core.router import Router
from core.table import COMMANDS

log = logging.getLogger("tertulia.telegram")

ALLOWED_UPDATES = ("message", "callback_query")  # callback_query: the answers' inline buttons
POLL_TIMEOUT_SECONDS = 10  # getUpdates long-poll
MENU_LANGUAGES = ("es",)  # besides the default (English) menu


def menu_commands() -> list[str]:
    """The table's menu commands, with Telegram's conventional /start first."""
    return ["start", *(spec.name for spec in COMMANDS if spec.menu)]


def command_descriptions(locale: str) -> dict[str, str]:
    """Menu texts for setMyCommands, from the catalogue's ``command.<name>``."""
    return {name: catalogue.text(f"command.{name}", locale)[:256] for name in menu_commands()}  # Bot API: 1-256


async def publish_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    bot = application.bot
    en = command_descriptions(catalogue.DEFAULT_LOCALE)
    await bot.set_my_commands([BotCommand(name, text) for name, text in en.items()])
    for language in MENU_LANGUAGES:
        local = command_descriptions(language)
        await bot.set_my_commands([BotCommand(name, text) for name, text in local.items()], language_code=language)


class TelegramAdapter:
    """Turns updates into router calls. The router is synchronous (Redis, Celery), so it
    runs in a thread and never blocks the event loop."""

    def __init__(self, *, router_for: Callable[[str | None], Router], dedupe: Deduplicator) -> None:
        self._router_for = router_for
        self._dedupe = dedupe
        self._router: Router | None = None

    async def setup(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        # The router needs the bot's username (``/cmd@bot``), known once the bot is logged in.
        self._router = self._router_for(application.bot.username)
        await publish_commands(application)

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        with event_logging(platform="telegram", event_id=str(update.update_id)):
            await self._on_update(update, context)

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            seen = self._dedupe.first_time
            if await asyncio.to_thread(seen, "telegram-update", str(update.update_id)):  # redelivered: done
                await self._on_click(update.callback_query, bot_id=context.bot.id)
            return
        message = update.message
        if message is None or self._router is None:
            return
        bot = context.bot
        inbound = to_inbound(message, bot_id=bot.id, bot_username=bot.username)
        if inbound is None:
            return
        # Telegram redelivers an update when a webhook answer was slow or a poller restarts.
        try:
            first = await asyncio.to_thread(self._dedupe.first_time, "telegram-update", str(update.update_id))
        except Exception:  # the store is down: say so (Telegram won't redeliver an update we took)
            log.exception("an update could not be checked for a replay")
            await self._say(context, inbound, catalogue.text("temporarily_unavailable", inbound.message.locale))
            return
        if not first:
            log.info("duplicate update dropped", extra={"update_id": update.update_id})
            return
        oversized = next((a for a in inbound.message.attachments if a.size > CLOUD_DOWNLOAD_LIMIT), None)
        if oversized is not None:
            text = catalogue.text("file_too_large", inbound.message.locale, name=oversized.name,
                                  limit=human_size(CLOUD_DOWNLOAD_LIMIT))
            await self._say(context, inbound, text)
            return
        try:
            outcome = await asyncio.to_thread(self._router.handle, inbound.message, command=inbound.command)
        except Exception:  # said, not dropped: Telegram won't redeliver an update we took
            log.exception("an update could not be routed")
            await self._say(context, inbound, catalogue.text("temporarily_unavailable", inbound.message.locale))
            return
        if outcome.reply is not None:
            await self._say(context, inbound, outcome.reply)
        elif outcome.job is not None:
            with contextlib.suppress(TelegramError):  # only a courtesy while the job waits
                await bot.send_chat_action(int(inbound.message.channel), ChatAction.TYPING,
                                           message_thread_id=_thread_id(inbound))

    async def _on_click(self, query: CallbackQuery, *, bot_id: int) -> None:
        """An inline button under an answer: Stop, Regenerate, a vote, Continue. The answer
        (answerCallbackQuery) is a toast, or an alert when the click did nothing."""
        parsed = decode(query.data or "")
        chat = query.message.chat if query.message is not None else None
        if parsed is None or self._router is None or chat is None:
            with contextlib.suppress(TelegramError):
                await query.answer()
            return
        sender = query.from_user
        who = InboundMessage(
            platform="telegram", workspace=str(bot_id), channel=str(chat.id), user=str(sender.id),
            user_name=sender.full_name, locale=sender.language_code, text="", is_dm=chat.type == "private",
        )  # fmt: skip
        try:
            outcome = await asyncio.to_thread(self._router.click, Click(kind=parsed[0], job_id=parsed[1], who=who))
        except Exception:
            log.exception("a control could not be handled")
            with contextlib.suppress(TelegramError):
                await query.answer(catalogue.text("temporarily_unavailable", who.locale)[:200], show_alert=True)
            return
        with contextlib.suppress(TelegramError):  # a query answered too late is only a lost toast
            await query.answer(outcome.text[:200] if outcome.text else None, show_alert=outcome.refused)

    async def _say(self, context: ContextTypes.DEFAULT_TYPE, inbound: Inbound, text: str) -> None:
        """A fixed catalogue text: plain (it contains '<title>' and the like), no parse mode."""
        reply_to = telegram_address(inbound.message.address).reply_to
        await context.bot.send_message(
            int(inbound.message.channel),
            text,
            message_thread_id=_thread_id(inbound),
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
        )


def _thread_id(inbound: Inbound) -> int | None:
    return telegram_address(inbound.message.address).message_thread_id


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("update failed", exc_info=context.error)


def build_application(*, config: TelegramConfig, adapter: TelegramAdapter) -> Application[Any, Any, Any, Any, Any, Any]:
    if config.bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    root = config.api_url.rstrip("/")
    application = (
        ApplicationBuilder()
        .token(config.bot_token.get_secret_value())
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(TypeHandler(Update, adapter.on_update))
    application.add_error_handler(_on_error)
    return application


async def serve(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    adapter: TelegramAdapter,
    config: TelegramConfig,
    listen: str,
    stop: asyncio.Event,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run until ``stop`` is set, then stop cleanly (pending updates finish).
    ``on_started`` runs once updates are being received (for supervisors and tests)."""
    updater = application.updater
    if updater is None:
        raise RuntimeError("the application has no updater")
    async with application:
        await adapter.setup(application)
        await application.start()
        if config.webhook_url:
            secret = config.webhook_secret
            if secret is None:
                raise ValueError("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL")
            await updater.start_webhook(
                listen=listen,
                port=config.port,
                url_path=urlsplit(config.webhook_url).path.lstrip("/"),
                webhook_url=config.webhook_url,
                secret_token=secret.get_secret_value(),
                allowed_updates=list(ALLOWED_UPDATES),
            )
            log.info("telegram webhook listening", extra={"port": config.port})
        else:
            await updater.start_polling(timeout=POLL_TIMEOUT_SECONDS, allowed_updates=list(ALLOWED_UPDATES))
            log.info("telegram polling started")
        if on_started is not None:
            on_started()
        try:
            await stop.wait()
        finally:
            await updater.stop()
            await application.stop()


def main(argv: list[str], *, router_for: Callable[[str | None], Router], dedupe: Deduplicator) -> int:
    """Runs the adapter with what the composition root (tertulia/cli.py) hands it."""
    parser = argparse.ArgumentParser(prog="tertulia telegram", description="Run the Telegram adapter.")
    parser.add_argument("--listen", default="0.0.0.0", help="webhook mode: address to listen on")
    args = parser.parse_args(argv)
    config = get_telegram_config()
    if config.bot_token is None:
        print("TELEGRAM_BOT_TOKEN is not set.", file=sys.stderr)
        return 2
    if config.webhook_url and config.webhook_secret is None:
        print("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set.", file=sys.stderr)
        return 2
    adapter = TelegramAdapter(router_for=router_for, dedupe=dedupe)
    application = build_application(config=config, adapter=adapter)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(application, adapter=adapter, config=config, listen=args.listen, stop=stop)

    asyncio.run(run())
    return 0
