"""The command table: every command the bot understands, declared once.

To add a command: one entry here (prompts in core/instructions.py), its texts in
core/catalogue.py (``command.``, ``help.``, ``usage.`` and ``option.`` keys), and
``tertulia slack manifest > bots/slack/manifest.yml``. Router, runner, /help, Telegram's
menu and Discord's command tree follow from this table.
"""

from __future__ import annotations

from core import actions, instructions
from core.entities import ENTITIES_SCHEMA, render_entities_answer
from core.recipes import Continuation, Conversation, Documents, ModelListing, Prompted
from core.specs import Arg, ArgType, CommandSpec, Sampling

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        name="essay",
        args=(Arg(name="title"),),
        recipe=Prompted(build=lambda a: instructions.essay(a["title"])),
    ),
    CommandSpec(
        name="summarize",
        aliases=("summarise",),
        words=("summarize", "summarise", "summary", "tldr", "tl;dr"),
        args=(
            Arg(name="text", required=False),
            Arg(name="messages", type=ArgType.COUNT, required=False, positional=False),
        ),
        reads_files=True,
        contexts=frozenset({"thread", "reply", "channel"}),
        document_arg="text",
        recipe=Documents(
            whole=lambda text, _a: instructions.summarize(text),
            part=lambda text, _n, _a: instructions.summarize(text, partial=True),
            combine=lambda parts, _a: instructions.combine_summaries(parts),
            sampling=Sampling(temperature=0.3),
        ),
    ),
    CommandSpec(
        name="translate",
        args=(Arg(name="language", type=ArgType.LANGUAGE), Arg(name="text")),
        recipe=Prompted(
            build=lambda a: instructions.translate(a["language"], a["text"]), sampling=Sampling(temperature=0.2)
        ),
    ),
    CommandSpec(
        name="chat",
        args=(Arg(name="text"),),
        turn_files=True,
        images=True,
        recipe=Conversation(system=instructions.CHAT_SYSTEM),
    ),
    CommandSpec(
        name="entities",
        args=(Arg(name="text"),),
        recipe=Prompted(
            build=lambda a: instructions.entities(a["text"]),
            sampling=Sampling(temperature=0.0),
            schema=ENTITIES_SCHEMA,
            stream=False,
            finish=render_entities_answer,
        ),
    ),
    CommandSpec(
        name="code",
        args=(Arg(name="text"),),
        recipe=Prompted(
            build=lambda a: instructions.code(a["text"]),
            sampling=Sampling(temperature=0.2),
            finish=lambda answer, work: instructions.ensure_code_block(answer, work.args["text"]),
        ),
    ),
    CommandSpec(
        name="ask",
        args=(Arg(name="question"),),
        words=("ask",),
        reads_files=True,
        images=True,
        contexts=frozenset({"thread", "reply"}),
        recipe=Documents(
            whole=lambda text, a: instructions.answer_question(a["question"], text),
            part=lambda text, number, a: instructions.question_notes(a["question"], text, number),
            combine=lambda notes, a: instructions.answer_from_notes(a["question"], notes),
            sampling=Sampling(temperature=0.2),
            otherwise=Conversation(system=instructions.ASK_SYSTEM, text_arg="question"),
        ),
    ),
    # The rest of the last answer cut at its token limit here (core/cut.py).
    CommandSpec(name="continue", recipe=Continuation()),
    CommandSpec(name="models", own_slash_command=False, recipe=ModelListing()),
    CommandSpec(
        name="model",
        args=(Arg(name="name", type=ArgType.MODEL),),
        own_slash_command=False,
        action=actions.choose_model,
        admin=actions.always,
    ),
    CommandSpec(name="reset", own_slash_command=False, action=actions.reset, admin=actions.shared_memory),
    CommandSpec(
        name="persona",
        args=(Arg(name="text", required=False),),
        own_slash_command=False,
        action=actions.persona,
        admin=actions.changes_persona,
    ),
    CommandSpec(name="usage", own_slash_command=False, action=actions.usage),
    CommandSpec(name="stop", own_slash_command=False, action=actions.stop),
    CommandSpec(
        name="help",
        aliases=("start",),
        own_slash_command=False,
        action=lambda _desk, message, _args: actions.help_text(COMMANDS, message.locale),
    ),
)

CONTINUE = "continue"
# The job whose answer a Continue button goes on with (bound by core/controls.py): /continue
# typed goes on with the last cut answer of its scope, a button with its own answer only.
CONTINUED_ARG = "answer"

# What a file sent alone, with no text, asks for (core/commands.files_alone); images alone
# are a chat turn about them.
FILE_COMMAND = "summarize"
IMAGE_COMMAND = "chat"

_BY_NAME: dict[str, CommandSpec] = {}
for _spec in COMMANDS:
    for _name in (_spec.name, *_spec.aliases):
        if _name in _BY_NAME:
            raise ValueError(f"/{_name} is declared twice in the command table")
        _BY_NAME[_name] = _spec


def find_spec(name: str) -> CommandSpec | None:
    """The spec of a command name or one of its aliases."""
    return _BY_NAME.get(name.lower())


def word_commands() -> dict[str, str]:
    """Words that, first in a mention or DM, start a command -> that command's name."""
    return {word: spec.name for spec in COMMANDS for word in spec.words}


def model_commands() -> frozenset[str]:
    """The commands whose answers a model writes (a per-command max_new_tokens applies):
    /continue goes on with another command's answer, under that command's limit."""
    return frozenset(
        spec.name for spec in COMMANDS if spec.recipe is not None and not isinstance(spec.recipe, ModelListing)
    ) - {CONTINUE}


def uses_memory(name: str) -> bool:
    """Whether a command's jobs may read and write their conversation's memory (their turns
    must then run one at a time, in order)."""
    spec = find_spec(name)
    recipe = spec.recipe if spec is not None else None
    if isinstance(recipe, Documents):
        recipe = recipe.otherwise
    # /continue may extend the history's last answer: it waits for the turns before it.
    return isinstance(recipe, Conversation | Continuation)
