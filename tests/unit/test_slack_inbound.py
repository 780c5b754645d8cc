"""Slack payloads -> InboundMessage, and the router's view of them (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from bots.slack import inbound
from bots.slack.address import SlackAddress
from bots.slack.config import SlackConfig
from bots.slack.limits import MARKDOWN_TEXT_LIMIT, MAX_CHARS
from bots.slack.manifest import render as render_manifest
from bots.slack.responder import to_mrkdwn
from core.commands import Command
from core.jobs import Job
from core.router import Router
from core.scope import scope_key
from tests.support.memory import MemoryChoices, MemoryContext, MemoryJobs

BOT = "UBOT0001"


def route(parsed: inbound.Parsed) -> Job:
    """The job the router makes of a parsed payload (the router reads the typed command)."""
    jobs = MemoryJobs()
    router = Router(jobs=jobs, queue=jobs, context=MemoryContext(), choices=MemoryChoices(),
                    model_names=lambda: ["tgi"], max_input_chars=1000, max_attachment_bytes=10_000)
    outcome = router.handle(parsed.message, command=parsed.command)
    assert outcome.job is not None, outcome.reply
    return outcome.job


def command(text: str, *, channel: str = "C1", name: str = "/essay") -> dict[str, Any]:
    return {"team_id": "T1", "channel_id": channel, "channel_name": "general", "user_id": "U1",
            "user_name": "ana", "command": name, "text": text, "trigger_id": "tr1",
            "response_url": "https://hooks.slack.com/commands/T1/1/x"}


def event(text: str, **extra: Any) -> dict[str, Any]:
    ev = {"type": "app_mention", "user": "U1", "text": text, "ts": "100.1", "channel": "C1", **extra}
    return {"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": ev}


def dm(text: str, **extra: Any) -> dict[str, Any]:
    ev = {"type": "message", "channel_type": "im", "user": "U1", "text": text, "ts": "200.1", "channel": "D1", **extra}
    return {"type": "event_callback", "team_id": "T1", "event_id": "Ev2", "event": ev}


def test_slash_command_text_is_passed_with_canonical_name() -> None:
    parsed = inbound.from_slash_command(command("The sea", name="/ai-essay"), canonical="essay", locale="es-ES")
    m = parsed.message
    assert parsed.command == Command(name="essay", args={"title": "The sea"})
    assert m.address == SlackAddress(command="/ai-essay The sea", response_url="https://hooks.slack.com/commands/T1/1/x")
    assert (m.workspace, m.channel, m.user, m.locale, m.thread, m.is_dm) == ("T1", "C1", "U1", "es-ES", None, False)


def test_summarize_without_text_reads_the_channel() -> None:
    parsed = inbound.from_slash_command(command("", name="/summarize"), canonical="summarize", locale=None)
    assert parsed.command == Command(name="summarize") and parsed.message.context == "channel"
    assert route(parsed).args == {"source": "channel"}


def test_slash_command_in_a_dm_is_a_dm() -> None:
    parsed = inbound.from_slash_command(command("hi", channel="D9", name="/chat"), canonical="chat", locale=None)
    assert parsed.message.is_dm


def test_mention_outside_a_thread_starts_a_thread_at_the_message() -> None:
    parsed = inbound.from_event(event(f"<@{BOT}> what is entropy?"), bot_user_id=BOT, locale=None)
    assert parsed is not None
    m = parsed.message
    assert m.text == "what is entropy?" and m.addressed
    assert m.thread == "100.1" and m.address == SlackAddress(thread_ts="100.1")


def test_mention_in_a_thread_is_scoped_to_that_thread_only() -> None:
    a = inbound.from_event(event(f"<@{BOT}> hi", thread_ts="50.0"), bot_user_id=BOT, locale=None)
    b = inbound.from_event(event(f"<@{BOT}> hi", thread_ts="60.0"), bot_user_id=BOT, locale=None)
    root = inbound.from_event(event(f"<@{BOT}> hi", ts="50.0"), bot_user_id=BOT, locale=None)
    assert a and b and root
    assert scope_key(a.message) != scope_key(b.message)
    assert scope_key(a.message) == scope_key(root.message)  # the thread's root mention shares it


def test_summarize_in_a_thread_reads_the_thread() -> None:
    parsed = inbound.from_event(event(f"<@{BOT}> summarize", thread_ts="50.0"), bot_user_id=BOT, locale=None)
    assert parsed is not None and parsed.command == Command(name="summarize")
    assert route(parsed).args == {"source": "thread"}


def test_summarize_with_text_summarises_the_text() -> None:
    parsed = inbound.from_event(event(f"<@{BOT}> summarize: long text here"), bot_user_id=BOT, locale=None)
    assert parsed is not None and parsed.command == Command(name="summarize", args={"text": "long text here"})
    assert route(parsed).args == {"text": "long text here"}


def test_a_file_with_a_summary_request_becomes_an_attachment() -> None:
    files = [{"id": "F1", "name": "notes.txt", "size": 1234, "mimetype": "text/plain",
              "url_private": "https://files.slack.com/files-pri/T1-F1/notes.txt", "mode": "hosted"}]
    parsed = inbound.from_event(event(f"<@{BOT}> summarize", files=files), bot_user_id=BOT, locale=None)
    assert parsed is not None and route(parsed).args == {}
    (attachment,) = route(parsed).message.attachments
    assert (attachment.name, attachment.size, attachment.url) == ("notes.txt", 1234, files[0]["url_private"])


def test_files_beside_chat_join_the_turn() -> None:
    files = [{"id": "F1", "name": "a.txt", "size": 1, "url_private": "https://files.slack.com/x"}]
    parsed = inbound.from_event(event(f"<@{BOT}> hello", files=files), bot_user_id=BOT, locale=None)
    assert parsed is not None and parsed.command is None and parsed.message.text == "hello"
    job = route(parsed)
    assert job.kind == "chat" and [a.name for a in job.message.attachments] == ["a.txt"]


def test_each_assistant_thread_is_its_own_conversation() -> None:
    top = inbound.from_event(dm("hello"), bot_user_id=BOT, locale=None)
    threaded = inbound.from_event(dm("hello", thread_ts="150.0"), bot_user_id=BOT, locale=None)
    again = inbound.from_event(dm("and now?", ts="151.0", thread_ts="150.0"), bot_user_id=BOT, locale=None)
    other = inbound.from_event(dm("hello", thread_ts="160.0"), bot_user_id=BOT, locale=None)
    assert top and threaded and again and other
    assert top.message.is_dm and top.message.address == SlackAddress()
    assert threaded.message.address == SlackAddress(thread_ts="150.0", assistant=True)
    assert scope_key(top.message) == "slack:T1:dm:U1"
    assert scope_key(threaded.message) == scope_key(again.message) == "slack:T1:dm:U1:150.0"
    assert scope_key(other.message) == "slack:T1:dm:U1:160.0"


def test_bot_messages_are_ignored() -> None:
    for extra in ({"bot_id": "B9"}, {"subtype": "bot_message"}, {"user": BOT}, {"subtype": "message_changed"}):
        assert inbound.from_event(dm("hi", **extra), bot_user_id=BOT, locale=None) is None


def test_channel_messages_without_mention_are_ignored() -> None:
    body = dm("hi")
    body["event"].update(channel_type="channel", channel="C1")
    assert inbound.from_event(body, bot_user_id=BOT, locale=None) is None


def channel_reply(text: str, **extra: Any) -> dict[str, Any]:
    ev = {"type": "message", "channel_type": "channel", "user": "U2", "text": text, "ts": "300.2",
          "thread_ts": "300.0", "channel": "C1", **extra}
    return {"type": "event_callback", "team_id": "T1", "event_id": "Ev3", "event": ev}


def test_a_reply_in_a_followed_thread_is_chat_in_that_thread() -> None:
    parsed = inbound.from_event(channel_reply("what about Monday?"), bot_user_id=BOT, locale=None, followed=True)
    assert parsed is not None and parsed.command is None
    m = parsed.message
    assert (m.text, m.thread, m.addressed, m.is_dm) == ("what about Monday?", "300.0", True, False)
    assert m.message_id == "300.2"
    assert m.address == SlackAddress(thread_ts="300.0")
    mention = inbound.from_event(event(f"<@{BOT}> hi", ts="300.0"), bot_user_id=BOT, locale=None)
    assert mention is not None and scope_key(m) == scope_key(mention.message)  # the thread's one conversation


def test_channel_replies_the_bot_does_not_follow_or_that_mention_it_are_not_messages_for_us() -> None:
    assert inbound.from_event(channel_reply("chatter"), bot_user_id=BOT, locale=None) is None
    # The mention comes as app_mention too: answered from that event only.
    mentioned = channel_reply(f"<@{BOT}> what about Monday?")
    assert inbound.from_event(mentioned, bot_user_id=BOT, locale=None, followed=True) is None
    top_level = channel_reply("hello", thread_ts=None)
    assert inbound.from_event(top_level, bot_user_id=BOT, locale=None, followed=True) is None


def test_message_shortcut_summarises_the_thread_of_the_message() -> None:
    body = {"type": "message_action", "callback_id": "summarize_thread", "trigger_id": "t",
            "team": {"id": "T1"}, "user": {"id": "U1", "username": "ana"}, "channel": {"id": "C1"},
            "message": {"type": "message", "ts": "70.0", "thread_ts": "60.0", "text": "x"},
            "response_url": "https://hooks.slack.com/app/T1/x"}
    parsed = inbound.from_message_shortcut(body, locale=None)
    assert parsed.message.thread == "60.0" and parsed.thread_ts == "60.0"
    assert parsed.command == Command(name="summarize") and route(parsed).args == {"source": "thread"}


def test_command_words() -> None:
    assert inbound.command_in("help") == Command(name="help")
    assert inbound.command_in("help me write a poem") is None
    assert inbound.command_in("TL;DR") == Command(name="summarize")
    translate = Command(name="translate", args={"language": "fr", "text": "hello"})
    assert inbound.command_in("/translate fr hello") == translate


def test_command_names_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERTULIA_SLACK_COMMAND_ESSAY", "/ai-essay")
    monkeypatch.setenv("TERTULIA_SLACK_COMMAND_TERTULIA", "tt")
    commands = SlackConfig().commands()
    assert commands["/ai-essay"] == "essay" and commands["/tt"] == "tertulia" and "/essay" not in commands


def test_max_chars_leaves_headroom_under_slacks_markdown_limit() -> None:
    assert MAX_CHARS < MARKDOWN_TEXT_LIMIT


def test_mrkdwn_conversion_keeps_code_blocks() -> None:
    text = "**bold** and [a link](https://example.com)\n\n```python\nx = a**2  # **not bold**\n```"
    converted = to_mrkdwn(text)
    assert "*bold*" in converted and "<https://example.com|a link>" in converted
    assert "```python\nx = a**2  # **not bold**\n```" in converted


def test_manifest_declares_the_configured_commands_shortcut_and_events() -> None:
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[2] / "bots" / "slack" / "manifest.yml").read_text()
    manifest = yaml.safe_load(text)
    config = SlackConfig()
    # The slash commands come from the command table: `tertulia slack manifest` rewrites them.
    assert render_manifest(config, text) == text, "manifest.yml drifted from the command table"
    declared = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert declared == set(config.commands())
    (shortcut,) = manifest["features"]["shortcuts"]
    assert shortcut["type"] == "message" and shortcut["callback_id"] == config.shortcut_summarize
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.channels", "message.groups", "message.im", "assistant_thread_started"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "files:read", "channels:history", "groups:history", "im:history",
            "assistant:write"} <= scopes
    assert manifest["settings"]["socket_mode_enabled"] is True
    # The answers' buttons (Stop, Regenerate, votes, Continue) post block_actions to the same URL.
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == manifest["settings"]["event_subscriptions"]["request_url"]


IMAGE = {"id": "F2", "name": "kiln.png", "size": 2048, "mimetype": "image/png",
         "url_private": "https://files.slack.com/files-pri/T1-F2/kiln.png", "mode": "hosted"}  # fmt: skip
NOTES = {"id": "F1", "name": "notes.txt", "size": 1234, "mimetype": "text/plain",
         "url_private": "https://files.slack.com/files-pri/T1-F1/notes.txt", "mode": "hosted"}  # fmt: skip


@pytest.mark.parametrize("payload", [dm("", files=[IMAGE], subtype="file_share"), event(f"<@{BOT}>", files=[IMAGE])])
def test_an_image_alone_is_a_chat_turn_about_it_in_a_dm_or_a_mention(payload: dict[str, Any]) -> None:
    parsed = inbound.from_event(payload, bot_user_id=BOT, locale="es-ES")
    assert parsed is not None and parsed.command == Command(name="chat", args={"text": "¿Qué hay en esta imagen?"})
    job = route(parsed)
    assert job.kind == "chat" and [a.name for a in job.message.attachments] == ["kiln.png"]


@pytest.mark.parametrize("payload", [dm("", files=[NOTES], subtype="file_share"), event(f"<@{BOT}>", files=[NOTES])])
def test_a_document_alone_is_read_by_the_file_command(payload: dict[str, Any]) -> None:
    parsed = inbound.from_event(payload, bot_user_id=BOT, locale=None)
    assert parsed is not None and parsed.command == Command(name="summarize")
    assert [a.name for a in route(parsed).message.attachments] == ["notes.txt"]
