"""The slash commands of manifest.yml, from the command table.

``tertulia slack manifest`` prints manifest.yml with this block written afresh; a test
fails when the committed file and the table disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from bots.slack.config import SlackConfig
from core import catalogue
from core.specs import CommandSpec
from core.table import COMMANDS, find_spec

MANIFEST = Path(__file__).with_name("manifest.yml")
EVENTS_URL = "https://example.com/slack/events"
UMBRELLA_DESCRIPTION = "Help, models, model choice and reset"
_BLOCK = re.compile(r"(?ms)^  slash_commands:\n.*?(?=^  \S)")


def usage_hint(spec: CommandSpec) -> str:
    """``<language> <text>``, ``[text]``: the arguments a typed line takes."""
    return " ".join(f"<{a.name}>" if a.required else f"[{a.name}]" for a in spec.positional())


def _umbrella_hint() -> str:
    parts = [f"{s.name} {usage_hint(s)}".strip() for s in COMMANDS if not s.own_slash_command]
    return " | ".join(parts)


def slash_commands(config: SlackConfig) -> list[dict[str, str | bool]]:
    found: list[dict[str, str | bool]] = []
    for slash, name in config.commands().items():
        spec = find_spec(name)
        if spec is None:  # the umbrella
            description, hint = UMBRELLA_DESCRIPTION, _umbrella_hint()
        else:
            description, hint = catalogue.text(f"command.{name}"), usage_hint(spec)
        entry: dict[str, str | bool] = {"command": slash, "url": EVENTS_URL, "description": description}
        if hint:
            entry["usage_hint"] = hint
        entry["should_escape"] = False
        found.append(entry)
    return found


def _yaml_block(entries: list[dict[str, str | bool]]) -> str:
    lines = ["  slash_commands:"]
    for entry in entries:
        first = True
        for key, value in entry.items():
            shown = "false" if value is False else "true" if value is True else _quoted(str(value))
            lines.append(f"    {'- ' if first else '  '}{key}: {shown}")
            first = False
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """Plain YAML where it is safe, double-quoted where a character would change its meaning."""
    if re.search(r"[:#<>\[\]|{}&*!%@`'\"]", text) or text != text.strip():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def render(config: SlackConfig, manifest: str) -> str:
    """``manifest`` with its slash_commands block written from the table."""
    return _BLOCK.sub(lambda _m: _yaml_block(slash_commands(config)), manifest, count=1)


def main() -> int:
    print(render(SlackConfig(), MANIFEST.read_text()), end="")
    return 0
