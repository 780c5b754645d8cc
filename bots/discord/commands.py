"""The slash commands, built from the command table (core/table.py): typed options,
autocomplete and localised descriptions.

Each callback hands the router a typed ``Command`` made of the options Discord already
typed; nothing is turned back into text. ``Handler.run`` defers first, so every
interaction is acknowledged inside Discord's 3 seconds whatever the model is doing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

import discord
from discord import app_commands

from bots.discord.inbound import attachment_of
from bots.discord.limits import HISTORY_MAX_MESSAGES
from core import catalogue
from core.commands import Command
from core.languages import language_names, resolve_language
from core.messages import Attachment
from core.specs import Arg, ArgType, CommandSpec
from core.table import COMMANDS

MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices
FILE_OPTION = "file"  # the attachment option of the commands that read files


class Handler(Protocol):
    async def run(
        self,
        interaction: discord.Interaction,
        command: Command,
        *,
        attachments: tuple[Attachment, ...] = (),
        context: str | None = None,
    ) -> None: ...


def language_suggestions(current: str) -> list[tuple[str, str]]:
    """(label, code) pairs for what the user has typed so far: the exact name or code in
    any accepted language first, then names and codes that start with or contain it."""
    typed = current.strip().lower()
    exact = resolve_language(typed) if typed else None
    ranked: list[tuple[int, str, str]] = []
    for code, names in language_names():
        name = names[0]
        spellings = [n.lower() for n in names]  # "alem" finds German through "alemán"
        if exact == name:
            rank = 0
        elif not typed or code.startswith(typed) or any(n.startswith(typed) for n in spellings):
            rank = 1
        elif any(typed in n for n in spellings):
            rank = 2
        else:
            continue
        ranked.append((rank, name, code))
    ranked.sort()
    return [(f"{name} ({code})", code) for _rank, name, code in ranked[:MAX_CHOICES]]


def model_suggestions(current: str, names: list[str]) -> list[str]:
    typed = current.strip().lower()
    return [n for n in names if typed in n.lower()][:MAX_CHOICES]


def text_of(key: str) -> app_commands.locale_str:
    """The English text, keyed for the translator (bots/discord/localization.py)."""
    return app_commands.locale_str(catalogue.text(key)[:100], key=key)


def _annotation(arg: Arg) -> Any:
    kind: Any = str
    if arg.type is ArgType.COUNT:
        kind = app_commands.Range[int, 1, min(arg.maximum or HISTORY_MAX_MESSAGES, HISTORY_MAX_MESSAGES)]
    return kind if arg.required else kind | None


def _signature(spec: CommandSpec) -> inspect.Signature:
    """The callback's signature as discord.py reads it: one typed parameter per option."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction)]
    file = inspect.Parameter(FILE_OPTION, keyword, annotation=discord.Attachment | None, default=None)
    for arg in spec.args:
        if spec.takes_files and not arg.positional and file not in params:
            params.append(file)  # the file beside the typed text, before option-only extras
        default = inspect.Parameter.empty if arg.required else None
        params.append(inspect.Parameter(arg.name, keyword, annotation=_annotation(arg), default=default))
    if spec.takes_files and file not in params:
        params.append(file)
    # Discord lists required options first.
    params[1:] = sorted(params[1:], key=lambda p: p.default is not inspect.Parameter.empty)
    return inspect.Signature(params)


def _command(spec: CommandSpec, handler: Handler, model_names: Callable[[], list[str]]) -> app_commands.Command:  # type: ignore[type-arg]
    async def callback(interaction: discord.Interaction[Any], /, **options: Any) -> None:
        file = options.pop(FILE_OPTION, None)
        attachments = (attachment_of(file),) if file is not None else ()
        args = {name: str(value).strip() for name, value in options.items() if value is not None}
        counted = any(a.type is ArgType.COUNT and a.name in args for a in spec.args)
        # A count of recent messages means: read the channel.
        await handler.run(
            interaction,
            Command(name=spec.name, args=args),
            attachments=attachments,
            context="channel" if counted else None,
        )

    callback.__signature__ = _signature(spec)  # type: ignore[attr-defined]
    descriptions = {arg.name: text_of(f"option.{spec.name}.{arg.name}") for arg in spec.args}
    if spec.takes_files:
        descriptions[FILE_OPTION] = text_of(f"option.{spec.name}.{FILE_OPTION}")
    callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
    command: app_commands.Command = app_commands.Command(  # type: ignore[type-arg]
        name=spec.name, description=text_of(f"command.{spec.name}"), callback=callback
    )
    for arg in spec.args:
        if arg.type is ArgType.LANGUAGE:
            command.autocomplete(arg.name)(_languages)
        elif arg.type is ArgType.MODEL:
            command.autocomplete(arg.name)(_models(model_names))
    return command


async def _languages(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=label, value=code) for label, code in language_suggestions(current)]


def _models(names: Callable[[], list[str]]) -> Callable[..., Any]:
    async def suggest(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in model_suggestions(current, names())]

    return suggest


def build_commands(handler: Handler, *, model_names: Callable[[], list[str]]) -> list[app_commands.Command]:  # type: ignore[type-arg]
    """One slash command per menu command of the table."""
    return [_command(spec, handler, model_names) for spec in COMMANDS if spec.menu]
