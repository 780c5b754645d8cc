"""The router, read as a chat transcript: what a user types and what comes back."""

from __future__ import annotations

import pytest

from core.commands import parse_line
from core.messages import Attachment, InboundMessage
from core.router import Router
from core.scope import scope_key
from tests.support.memory import MemoryChoices, MemoryContext, MemoryJobs


def make_router(
    jobs: MemoryJobs, *, context: MemoryContext | None = None, choices: MemoryChoices | None = None
) -> Router:
    return Router(
        jobs=jobs,
        queue=jobs,
        context=context or MemoryContext(),
        choices=choices or MemoryChoices(),
        model_names=lambda: ["tgi", "llama-2-chat"],
        max_input_chars=100,
        max_attachment_bytes=1000,
        bot_username="tertulia_bot",
    )


def msg(text: str, **kw: object) -> InboundMessage:
    base: dict[str, object] = {"platform": "test", "workspace": "w", "channel": "c", "user": "u", "text": text}
    base.update(kw)
    return InboundMessage(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("/essay The sea", "essay", "The sea"),
        ("/translate@tertulia_bot de hola", "translate", "de hola"),
        ("  /HELP  ", "help", ""),
        ("/code write\na loop", "code", "write\na loop"),
    ],
)
def test_parse_line(text: str, name: str, args: str) -> None:
    command = parse_line(text, bot_username="tertulia_bot")
    assert command is not None
    assert (command.name, command.args) == (name, args)


def test_command_for_another_bot_is_not_ours() -> None:
    assert parse_line("/help@other_bot", bot_username="tertulia_bot") is None
    assert parse_line("hello there") is None


@pytest.mark.parametrize(
    "command", ["/essay", "/summarize", "/translate", "/translate de", "/chat", "/entities", "/code"]
)
def test_missing_arguments_get_a_usage_line(command: str) -> None:
    jobs = MemoryJobs()
    outcome = make_router(jobs).handle(msg(command))
    assert outcome.reply is not None and outcome.reply.startswith("Usage: /")
    assert jobs.queued == []


def test_usage_in_spanish_for_a_spanish_locale() -> None:
    outcome = make_router(MemoryJobs()).handle(msg("/essay", locale="es-ES"))
    assert outcome.reply is not None and outcome.reply.startswith("Uso: /essay")


def test_unknown_command_gets_the_help() -> None:
    outcome = make_router(MemoryJobs()).handle(msg("/frobnicate now"))
    assert outcome.reply is not None and "/essay <title>" in outcome.reply


@pytest.mark.parametrize(
    ("text", "kind", "args"),
    [
        ("/essay Tides", "essay", {"title": "Tides"}),
        ("/translate fr Good morning", "translate", {"language": "French", "text": "Good morning"}),
        ("/translate alemán Buenos días", "translate", {"language": "German", "text": "Buenos días"}),
        ("/chat hi", "chat", {"text": "hi"}),
        ("/entities Ada met Alan", "entities", {"text": "Ada met Alan"}),
        ("/code fizzbuzz in python", "code", {"text": "fizzbuzz in python"}),
        ("/summarize a b c", "summarize", {"text": "a b c"}),
        ("/models", "models", {}),
    ],
)
def test_jobs_are_queued_by_id(text: str, kind: str, args: dict[str, str]) -> None:
    jobs = MemoryJobs()
    outcome = make_router(jobs).handle(msg(text))
    assert outcome.job is not None
    assert outcome.job.kind == kind and outcome.job.args == args
    assert jobs.queued == [outcome.job.id] and jobs.load(outcome.job.id) == outcome.job


def test_unknown_language_is_named() -> None:
    outcome = make_router(MemoryJobs()).handle(msg("/translate klingon hello"))
    assert outcome.reply is not None and "klingon" in outcome.reply


def test_plain_text_is_chat_only_when_addressed() -> None:
    jobs = MemoryJobs()
    router = make_router(jobs)
    assert router.handle(msg("just talking")).ignored
    outcome = router.handle(msg("hello bot", addressed=True))
    assert outcome.job is not None and outcome.job.kind == "chat"


def test_too_long_text_names_the_limit() -> None:
    jobs = MemoryJobs()
    outcome = make_router(jobs).handle(msg("/chat " + "x" * 150))
    assert outcome.reply == "That text is too long: the limit is 100 characters (yours has 150)."
    assert jobs.queued == []


def test_files_are_checked_before_queueing() -> None:
    jobs = MemoryJobs()
    router = make_router(jobs)
    big = router.handle(msg("/summarize", attachments=(Attachment(name="a.pdf", size=5000, url="u"),)))
    assert big.reply is not None and "too large" in big.reply and "1000 bytes" in big.reply
    odd = router.handle(msg("/summarize", attachments=(Attachment(name="a.exe", size=10, url="u"),)))
    assert odd.reply is not None and "can't read 'a.exe'" in odd.reply
    ok = router.handle(msg("/summarize", attachments=(Attachment(name="a.docx", size=10, url="u"),)))
    assert ok.job is not None
    assert len(jobs.queued) == 1


def test_summarize_without_text_reads_the_platform_source() -> None:
    outcome = make_router(MemoryJobs()).handle(msg("/summarize", context="thread"))
    assert outcome.job is not None and outcome.job.args == {"source": "thread"}


def test_reset_and_model_choice_act_on_the_scope() -> None:
    context, choices = MemoryContext(), MemoryChoices()
    router = make_router(MemoryJobs(), context=context, choices=choices)
    message = msg("/model llama-2-chat", thread="t1")
    assert router.handle(message).reply == "This conversation now uses the model 'llama-2-chat'."
    assert choices.get(scope_key(message)) == "llama-2-chat"
    unknown = router.handle(msg("/model gpt-9"))
    assert unknown.reply is not None and "tgi, llama-2-chat" in unknown.reply
    context.record_exchange(scope_key(message), job_id="j", user="a", assistant="b")
    assert router.handle(msg("/reset", thread="t1")).reply is not None
    assert context.history(scope_key(message)) == []


def test_slack_umbrella_command() -> None:
    from bots.slack.inbound import umbrella_command

    router = make_router(MemoryJobs())
    help_reply = router.handle(msg("/tertulia"), command=umbrella_command(""))
    assert help_reply.reply is not None and "/essay <title>" in help_reply.reply
    chosen = router.handle(msg("/tertulia model tgi"), command=umbrella_command("model tgi"))
    assert chosen.reply == "This conversation now uses the model 'tgi'."


def test_scopes() -> None:
    assert scope_key(msg("x", thread="t")) != scope_key(msg("x", thread="u"))
    assert scope_key(msg("x", is_dm=True, channel="D1")) == scope_key(msg("x", is_dm=True, channel="D2"))
    assert scope_key(msg("x", is_dm=True, user="a")) != scope_key(msg("x", is_dm=True, user="b"))


def test_a_bare_slash_gets_the_help_when_addressed_and_nothing_in_a_group() -> None:
    router = make_router(MemoryJobs())
    answered = router.handle(msg("/", addressed=True))
    assert answered.reply is not None and "/essay <title>" in answered.reply
    assert router.handle(msg("/")).ignored  # group chatter that is not for us
