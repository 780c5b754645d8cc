"""Command parsing, done once, here, for every platform."""

from __future__ import annotations

import re
from dataclasses import dataclass

# /cmd, /cmd@botname, then optional whitespace-separated arguments (newlines kept).
_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,64})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?:\s+(?P<args>.*))?$", re.S)


@dataclass(frozen=True, kw_only=True)
class Command:
    name: str  # lower-case, without the slash
    args: str  # stripped; "" when none


def parse_command(text: str, *, bot_username: str | None = None) -> Command | None:
    """``/cmd@bot args`` -> Command; None for plain text or a command addressed to
    another bot (Telegram groups deliver those to every bot)."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    addressed_to = match.group("bot")
    if addressed_to and bot_username and addressed_to.lower() != bot_username.lower().lstrip("@"):
        return None
    return Command(name=match.group("name").lower(), args=(match.group("args") or "").strip())


def split_first_word(args: str) -> tuple[str, str]:
    parts = args.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""
