"""`tertulia discord`: the gateway process. `tertulia discord sync-commands [--guild ID]`.

The gateway process only acknowledges and routes: it defers every interaction before
anything else, hands the router (Redis only) a normalised message, and leaves the model
work and the answer to a worker, which edits the deferred response over plain HTTP.
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

import discord
from discord import app_commands

from bots.discord.chains import ReplyChains
from bots.discord.commands import build_commands
from bots.discord.config import DiscordConfig, get_discord_config
from bots.discord.endpoints import configure_gateway, configure_rest, discover_gateway
from bots.discord.inbound import (
    DM_WORKSPACE,
    channel_message,
    guild_id_of,
    interaction_message,
    is_addressed,
    is_from_person,
    role_ids,
)
from bots.discord.localization import CommandTranslator
from core import catalogue
from core.actions import help_text
from core.commands import Command, command_from, files_alone
from core.controls import Click
from core.logfields import event_logging
from core.messages import Attachment, InboundMessage
from core.panel import decode
from core.ports import Deduplicator
from core.router import Outcome, Router
from core.table import COMMANDS

log = logging.getLogger("tertulia.discord")

_NO_MENTIONS = discord.AllowedMentions.none()


class Adapter:
    """What the bot does with commands and messages; platform calls only, no model work."""

    def __init__(self, *, router: Router, chains: ReplyChains, dedupe: Deduplicator) -> None:
        self._router = router
        self._chains = chains
        self._dedupe = dedupe

    async def run(
        self,
        interaction: discord.Interaction,
        command: Command,
        *,
        attachments: tuple[Attachment, ...] = (),
        context: str | None = None,
    ) -> None:
        with event_logging(platform="discord", event_id=str(interaction.id)):
            await self._run(interaction, command, attachments=attachments, context=context)

    async def _run(
        self,
        interaction: discord.Interaction,
        command: Command,
        *,
        attachments: tuple[Attachment, ...],
        context: str | None,
    ) -> None:
        # First, before any Redis or model work: Discord drops an interaction that is not
        # acknowledged within 3 seconds.
        try:
            callback = await interaction.response.defer(thinking=True)
        except discord.HTTPException:
            log.warning("could not defer interaction %s", interaction.id, exc_info=True)
            return
        message = interaction_message(
            interaction,
            text=f"/{command.name}",
            attachments=attachments,
            context=context,
            response_message_id=callback.message_id if callback is not None else None,
        )
        try:
            outcome = await asyncio.to_thread(self._router.handle, message, command=command)
        except Exception:
            log.exception("routing failed for interaction %s", interaction.id)
            outcome = Outcome(reply=catalogue.text("temporarily_unavailable", message.locale))
        if outcome.job is not None:
            return  # a worker edits the deferred response
        if outcome.ignored:  # the policy drops it without a word: the "thinking" goes too
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            return
        reply = outcome.reply or help_text(COMMANDS, message.locale)
        await interaction.edit_original_response(content=reply, allowed_mentions=_NO_MENTIONS)

    async def on_component(self, interaction: discord.Interaction) -> None:
        """A button under an answer (a MESSAGE_COMPONENT interaction): Stop, Regenerate, a
        vote, Continue. Answered within Discord's 3 seconds: a refusal or a thank-you as an
        ephemeral message (type 4, flags 64), otherwise a silent acknowledgement (type 6)."""
        data: Any = interaction.data or {}
        parsed = decode(str(data.get("custom_id") or ""))
        if parsed is None:
            return  # not ours
        user = interaction.user
        is_dm = interaction.guild_id is None
        who = InboundMessage(
            platform="discord", workspace=str(interaction.guild_id) if not is_dm else DM_WORKSPACE,
            channel=str(interaction.channel_id or ""), user=str(user.id), user_name=user.display_name,
            locale=str(interaction.locale.value), text="", is_dm=is_dm, roles=role_ids(user),
        )  # fmt: skip
        with event_logging(platform="discord", event_id=str(interaction.id)):
            try:
                outcome = await asyncio.to_thread(self._router.click, Click(kind=parsed[0], job_id=parsed[1], who=who))
                text = outcome.text
            except Exception:
                log.exception("a control could not be handled")
                text = catalogue.text("temporarily_unavailable", who.locale)
            try:
                if text:
                    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=_NO_MENTIONS)
                else:
                    await interaction.response.defer()  # DEFERRED_UPDATE_MESSAGE: the message stays as it is
            except discord.HTTPException:
                log.warning("could not answer component interaction %s", interaction.id, exc_info=True)

    async def on_message(self, message: discord.Message, *, bot_id: int) -> None:
        with event_logging(platform="discord", event_id=str(message.id)):
            await self._on_message(message, bot_id=bot_id)

    async def _on_message(self, message: discord.Message, *, bot_id: int) -> None:
        if not is_from_person(message) or not is_addressed(message, bot_id=bot_id):
            return
        root: str | None = None
        try:
            outcome, root = await asyncio.to_thread(self._route_message, message, bot_id)
        except Exception:
            log.exception("routing failed for message %s", message.id)
            locale = str(message.guild.preferred_locale.value) if message.guild is not None else None
            outcome = Outcome(reply=catalogue.text("temporarily_unavailable", locale))
        if outcome is not None and outcome.reply:
            sent = await message.reply(outcome.reply, mention_author=False, allowed_mentions=_NO_MENTIONS)
            if root is not None:  # a reply to this answer continues the same conversation
                await asyncio.to_thread(self._chains.remember, str(sent.id), root)

    def _route_message(self, message: discord.Message, bot_id: int) -> tuple[Outcome | None, str | None]:
        """Runs in a thread: Redis calls are synchronous. Returns the outcome and the
        conversation's root (None in a DM)."""
        if not self._dedupe.first_time("discord:message", str(message.id)):
            return None, None  # a resumed gateway session can replay events
        guild_id = guild_id_of(message.channel, message.guild)
        root: str | None = None
        if guild_id is not None:
            referenced = message.reference.message_id if message.reference is not None else None
            root = self._chains.root_of(str(referenced)) if referenced else str(message.id)
            self._chains.remember(str(message.id), root)
        locale = str(message.guild.preferred_locale.value) if message.guild is not None else None
        inbound = channel_message(message, bot_id=bot_id, root=root, locale=locale)
        return self._router.handle(inbound, command=_bare_command(inbound)), root


def _bare_command(inbound: InboundMessage) -> Command | None:
    """A bare mention gets the help; files alone are what ``files_alone`` says (images: a
    chat turn about them; a document: the file command). Anything else is the text's own
    command, parsed by the router."""
    if inbound.text:
        return None
    if inbound.attachments:
        return files_alone(inbound.attachments, locale=inbound.locale)
    return command_from("help")


class TertuliaClient(discord.Client):
    def __init__(self, *, adapter: Adapter | None, config: DiscordConfig, model_names: Callable[[], list[str]]) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the Developer Portal
        super().__init__(intents=intents, allowed_mentions=_NO_MENTIONS)
        self.tree = app_commands.CommandTree(self)
        self._adapter = adapter
        self._config = config
        handler: Any = adapter if adapter is not None else _NotServing()
        for command in build_commands(handler, model_names=model_names):
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CommandTranslator())
        if self._adapter is not None and not self._config.gateway_url:
            # As Discord asks: the gateway URL comes from GET /gateway/bot (through the
            # configured REST base, so a proxy or test server names its own gateway).
            try:
                configure_gateway(await discover_gateway(self.http))
            except discord.GatewayNotFound:
                log.warning("GET /gateway/bot failed; using discord.py's default gateway")

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s", self.user)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # Slash commands go through the command tree; buttons (no View is registered) here.
        if self._adapter is not None and interaction.type == discord.InteractionType.component:
            await self._adapter.on_component(interaction)

    async def on_message(self, message: discord.Message) -> None:
        if self._adapter is not None and self.user is not None:
            await self._adapter.on_message(message, bot_id=self.user.id)


class _NotServing:
    """sync-commands builds the same commands without answering any."""

    async def run(self, interaction: discord.Interaction, command: Command, **_: Any) -> None:
        return None


def _token(config: DiscordConfig) -> str | None:
    return config.bot_token.get_secret_value() if config.bot_token else None


def _configure(config: DiscordConfig) -> None:
    configure_rest(config.api_url)
    if config.gateway_url:
        configure_gateway(config.gateway_url)


async def _serve(config: DiscordConfig, token: str, adapter: Adapter, model_names: Callable[[], list[str]]) -> None:
    client = TertuliaClient(adapter=adapter, config=config, model_names=model_names)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(client.close()))
    async with client:
        await client.start(token)
    log.info("discord adapter stopped")


async def _sync_commands(
    config: DiscordConfig, token: str, guild_id: int | None, model_names: Callable[[], list[str]]
) -> list[str]:
    client = TertuliaClient(adapter=None, config=config, model_names=model_names)
    async with client:
        await client.login(token)  # also learns the application id
        guild = discord.Object(id=guild_id) if guild_id else None
        if guild is not None:
            client.tree.copy_global_to(guild=guild)
        synced = await client.tree.sync(guild=guild)
    return [command.name for command in synced]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tertulia discord", description="Run the Discord adapter.")
    sub = parser.add_subparsers(dest="action")
    sync = sub.add_parser("sync-commands", help="register the slash commands (globally, or in one guild)")
    sync.add_argument("--guild", type=int, default=None, help="a guild id: commands appear there at once")
    return parser


def main(
    argv: list[str],
    *,
    adapter: Callable[[], Adapter],
    model_names: Callable[[], list[str]],
) -> int:
    """Runs the adapter (or syncs the commands) with what the composition root hands it."""
    args = build_parser().parse_args(argv)
    config = get_discord_config()
    token = _token(config)
    if not token:
        print("DISCORD_BOT_TOKEN is not set.", file=sys.stderr)
        return 2
    _configure(config)
    if args.action == "sync-commands":
        names = asyncio.run(_sync_commands(config, token, args.guild, model_names))
        where = f"guild {args.guild}" if args.guild else "globally"
        print(f"Registered {len(names)} commands {where}: {', '.join('/' + n for n in names)}")
        return 0
    asyncio.run(_serve(config, token, adapter(), model_names))
    return 0
