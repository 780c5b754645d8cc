"""Command parsing, done once, here, for every platform, and the typed command it yields.

Adapters whose platform already types its input (Discord options, Telegram's bot_command
entity, a Slack slash command's name) build a ``Command`` directly with ``command_from``;
text typed into a message goes through ``parse_line`` then ``command_from``. Either way the
router receives typed arguments and never splits text that a platform had already split.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core import catalogue
from core.attachments import is_image
from core.errors import InputError
from core.languages import resolve_language
from core.messages import Attachment
from core.specs import ArgType, CommandSpec
from core.table import FILE_COMMAND, IMAGE_COMMAND, find_spec

# /cmd, /cmd@botname, then optional whitespace-separated arguments (newlines kept).
_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,64})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?:\s+(?P<args>.*))?$", re.S)


@dataclass(frozen=True, kw_only=True)
class CommandLine:
    """``/name rest`` as typed, before the command table has been consulted."""

    name: str  # lower-case, without the slash
    args: str  # stripped; "" when none


@dataclass(frozen=True, kw_only=True)
class Command:
    """A command the table knows, with its arguments by name (see ``core.specs``).
    ``known`` is False for a name the table doesn't have (the router answers with help)."""

    name: str
    args: Mapping[str, str] = field(default_factory=dict)
    known: bool = True
    # Arguments a control bound (a Continue button names its answer): never typed, never a
    # platform option, so the table's schema doesn't list them; they reach the job as they are.
    bound: Mapping[str, str] = field(default_factory=dict)


def parse_line(text: str, *, bot_username: str | None = None) -> CommandLine | None:
    """``/cmd@bot args`` -> CommandLine; None for plain text or a command addressed to
    another bot (Telegram groups deliver those to every bot)."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    addressed_to = match.group("bot")
    if addressed_to and bot_username and addressed_to.lower() != bot_username.lower().lstrip("@"):
        return None
    return CommandLine(name=match.group("name").lower(), args=(match.group("args") or "").strip())


def split_first_word(args: str) -> tuple[str, str]:
    parts = args.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def command_from(name: str, *, text: str = "", options: Mapping[str, str] | None = None) -> Command:
    """The typed command for ``name`` (an alias is resolved): ``options`` are arguments the
    platform typed already; ``text`` is the rest of a typed line, split by the spec's schema."""
    spec = find_spec(name)
    if spec is None:
        return Command(name=name.lower(), known=False)
    args = dict(bind_text(spec, text)) if text.strip() else {}
    args.update({key: value for key, value in (options or {}).items() if value is not None and value != ""})
    return Command(name=spec.name, args=args)


def files_alone(attachments: Sequence[Attachment], *, locale: str | None) -> Command:
    """What files sent with no words ask for, the same on every platform. Images alone are a
    chat turn about them (a vision model looks at them; a text-only model gives its clear
    refusal), asked in the sender's language; anything else is read by the file command."""
    if attachments and all(is_image(a) for a in attachments):
        return command_from(IMAGE_COMMAND, options={"text": catalogue.text("image_alone", locale)})
    return command_from(FILE_COMMAND)


def bind_text(spec: CommandSpec, text: str) -> dict[str, str]:
    """Positional arguments from a typed line: each word-sized argument takes one word, a
    text argument takes the rest. Validation is ``check_args``'s job."""
    args: dict[str, str] = {}
    rest = text.strip()
    for arg in spec.positional():
        if not rest:
            break
        if arg.type is ArgType.TEXT:
            args[arg.name], rest = rest, ""
        else:
            args[arg.name], rest = split_first_word(rest)
    return args


def check_args(spec: CommandSpec, args: Mapping[str, str]) -> dict[str, str] | None:
    """The arguments, validated and normalised; None when a required one is missing (the
    caller answers with the usage). Raises InputError for a value that can't be right."""
    checked: dict[str, str] = {}
    for arg in spec.args:
        value = (args.get(arg.name) or "").strip()
        if not value:
            if arg.required:
                return None
            continue
        if arg.type is ArgType.LANGUAGE:
            language = resolve_language(value)
            if language is None:
                raise InputError("unknown_language", language=value)
            value = language
        elif arg.type is ArgType.COUNT and not value.isdigit():
            return None
        checked[arg.name] = value
    return checked
