"""The docs agree with the code and with each other: every `tertulia …` command they show
exists (run with --help through the installed entry point), one truth for Telegram's
privacy mode, and one set of Discord permissions, the one the invite URL grants."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
ENTRY_POINT = Path(sys.executable).parent / "tertulia"

# `tertulia` or `.venv/bin/tertulia` where a command starts (a line or a code span, after
# `$ `, `: `, `(` or `exec <service> `; not /tertulia, @tertulia, "the tertulia image" or
# tertulia/cli.py), then its subcommand words; `a | b | c` lists alternatives.
_COMMAND = re.compile(
    r"(?:^[ \t]*(?:\$[ \t]*)?|[:(][ \t]*|\bexec[ \t]+[\w-]+[ \t]+)(?:\.venv/bin/)?tertulia"
    r"((?:[ \t]+[a-z][a-z0-9-]*(?:[ \t]*\|[ \t]*[a-z][a-z0-9-]*)*)+)",
    re.M,
)


def code_of(markdown: str) -> list[str]:
    """Fenced blocks and inline code spans: where a doc shows a command."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", markdown, flags=re.S | re.M)
    return blocks + re.findall(r"`([^`\n]+)`", prose)


def commands_in(text: str) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for match in _COMMAND.finditer(text):
        words = match.group(1).split()
        if "|" in words:  # `tertulia up | console | worker`: each is a command of its own
            found.update((w,) for w in words if w != "|")
        else:
            found.add(tuple(words))
    return found


@cache
def documented() -> dict[tuple[str, ...], list[str]]:
    where: dict[tuple[str, ...], list[str]] = {}
    for doc in DOCS:
        for code in code_of(doc.read_text()):
            for command in commands_in(code):
                where.setdefault(command, []).append(doc.name)
    return where


def run_help(words: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    prefix = [str(ENTRY_POINT)] if ENTRY_POINT.exists() else [sys.executable, "-m", "tertulia.cli"]
    return subprocess.run([*prefix, *words, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(REPO / ".run")})  # fmt: skip


def test_the_extractor_reads_blocks_inline_code_and_alternatives() -> None:
    sample = (
        "Run `.venv/bin/tertulia up` or `tertulia a | b`; `/tertulia models` and `@tertulia hi` are chat.\n"
        "```sh\nexport X=1\ntertulia discord sync-commands --guild 1   # then: tertulia worker (or: tertulia up)\n```\n"
        "See tertulia/cli.py and `tertulia/up.py`.\n"
    )
    commands: set[tuple[str, ...]] = set()
    for code in code_of(sample):
        commands |= commands_in(code)
    assert commands == {("up",), ("a",), ("b",), ("discord", "sync-commands"), ("worker",)}


def test_the_docs_show_the_main_commands() -> None:
    assert {("up",), ("worker",), ("discord", "sync-commands"), ("telegram",), ("slack",)} <= set(documented())


@pytest.mark.parametrize("words", sorted(documented()), ids=" ".join)
def test_every_documented_command_exists(words: tuple[str, ...]) -> None:
    result = run_help(words)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"`tertulia {' '.join(words)}` ({documented()[words]}) failed:\n{output[-2000:]}"
    assert f"tertulia {' '.join(words)}" in output.replace("Usage:", "usage:"), output[:500]


def test_a_command_that_does_not_exist_fails_the_same_check() -> None:
    assert run_help(("discord", "sync-everything")).returncode != 0
    assert run_help(("nosuch",)).returncode != 0


# --- one truth across docs ---------------------------------------------------------------------


def test_telegram_privacy_mode_stays_on_everywhere() -> None:
    for doc in DOCS:
        text = doc.read_text()
        if "privacy mode" not in text.lower():
            continue
        assert "leave privacy mode on" in text, f"{doc.name} mentions privacy mode without saying to leave it on"
        assert not re.search(r"/setprivacy`?\s*(→|->)[^\n]*Disable", text), f"{doc.name} says to disable privacy mode"
    assert "leave privacy mode on" in (REPO / "docs" / "deploy.md").read_text()


_DISCORD_PERMISSION_NAMES = {  # discord.Permissions flag -> its name in the Developer Portal
    "view_channel": "View Channels", "read_messages": "View Channels", "send_messages": "Send Messages",
    "send_messages_in_threads": "Send Messages in Threads", "read_message_history": "Read Message History",
    "attach_files": "Attach Files", "embed_links": "Embed Links", "add_reactions": "Add Reactions",
    "manage_messages": "Manage Messages", "create_public_threads": "Create Public Threads",
    "use_external_emojis": "Use External Emojis", "mention_everyone": "Mention Everyone",
}  # fmt: skip


def test_discord_permissions_are_the_invite_urls_everywhere() -> None:
    import discord

    invite = re.search(r"permissions=(\d+)", (REPO / "docs" / "discord.md").read_text())
    assert invite
    granted = {name for name, on in discord.Permissions(int(invite.group(1))) if on}
    assert granted <= set(_DISCORD_PERMISSION_NAMES), granted
    expected = {_DISCORD_PERMISSION_NAMES[name] for name in granted}
    for doc in (REPO / "docs" / "deploy.md", REPO / "docs" / "discord.md"):
        text = re.sub(r"\s+", " ", doc.read_text())
        for integer in re.findall(r"permissions[= `]+(\d{6,})", text):
            assert integer == invite.group(1), f"{doc.name} names permissions {integer}"
        labels = _DISCORD_PERMISSION_NAMES.values()
        named = {label for label in labels if re.search(rf"{label}(\*|[,;.)]| \(| (and|or)\b)", text)}
        named -= {"Attach Files"} if "not *Attach Files*" in text else set()
        assert named == expected, f"{doc.name} lists {sorted(named)}, the invite grants {sorted(expected)}"


def test_a_checkout_command_says_where_tertulia_is() -> None:
    """A fresh checkout has `tertulia` only in .venv/bin: a command block writes that path,
    or its doc says how to activate the venv. (Inline mentions name a role; in the container,
    `docker compose exec … tertulia` is right.)"""
    bare = re.compile(r"(?:^[ \t]*(?:\$[ \t]*)?|[:(][ \t]*)tertulia[ \t]+[a-z]", re.M)
    for doc in DOCS:
        if doc.name == "decisions.md":  # a record of choices, not instructions
            continue
        text = doc.read_text()
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
        uses_bare = any(bare.search(block) for block in blocks)
        assert not uses_bare or "source .venv/bin/activate" in text, f"{doc.name}: write .venv/bin/tertulia"
