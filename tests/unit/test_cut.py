"""Answers cut at their token limit: the note, the closed code block, /continue, the
per-command max_new_tokens, against in-memory ports (the fake servers: tests/integration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import catalogue
from core.cut import close_cut, open_fence, reopen
from core.jobs import Job
from core.messages import InboundMessage
from core.models import load_registry
from core.ports import GenerationRequest, TokenStream, Usage
from core.runner import JobRunner
from core.scope import scope_key
from core.table import find_spec, model_commands, uses_memory
from tests.support.memory import (
    MemoryContext,
    MemoryCuts,
    MemoryJobs,
    RecordingResponder,
    ScriptedModel,
    memory_runner,
)

REGISTRY = Path(__file__).resolve().parent.parent / "data" / "models.toml"
NOTE = catalogue.text("answer_cut")


class WordModel(ScriptedModel):
    """A deterministic model: its answer is ``reply``, one token per word, stopped at
    max_new_tokens with finish reason "length"; given a prefix, it says the rest."""

    def __init__(self, reply: str, *, max_input_tokens: int = 4096) -> None:
        super().__init__(max_input_tokens=max_input_tokens)
        self.reply = reply

    def stream(self, request: GenerationRequest) -> TokenStream:  # type: ignore[override]
        self.requests.append(request)
        rest = self.reply[len(request.prefix) :] if self.reply.startswith(request.prefix) else self.reply
        pieces = re.findall(r"\s*\S+", rest)  # a token: a word with the space before it
        shown = pieces[: request.max_new_tokens]
        usage = Usage(finish_reason="length" if len(pieces) > request.max_new_tokens else "eos_token")
        return TokenStream(iter(shown), usage)


def setup(model: ScriptedModel) -> tuple[JobRunner, MemoryJobs, MemoryContext, RecordingResponder, MemoryCuts]:
    jobs, context, responder, cuts = MemoryJobs(), MemoryContext(), RecordingResponder(), MemoryCuts()
    runner = memory_runner(model, jobs=jobs, context=context, responder=responder, cuts=cuts)
    return runner, jobs, context, responder, cuts


def job(jobs: MemoryJobs, kind: str, args: dict[str, str], *, locale: str | None = None) -> Job:
    message = InboundMessage(platform="test", workspace="w", channel="c", user="u", text="", locale=locale)
    made = Job(kind=kind, message=message, scope=scope_key(message), args=args)
    jobs.save(made)
    return made


# --- fences and the note ---------------------------------------------------------------


def test_an_open_fence_is_found_and_closed_before_the_note() -> None:
    text = "Here:\n```python\ndef f(x):\n    return x +"
    assert open_fence(text) == "```python"
    assert close_cut(text, None) == f"{text}\n```\n\n{NOTE}"


def test_closed_blocks_stay_as_they_are() -> None:
    text = "```python\nprint(1)\n```\nand then some prose"
    assert open_fence(text) is None
    assert close_cut(text, "es") == f"{text}\n\n{catalogue.text('answer_cut', 'es')}"


def test_a_longer_opening_fence_needs_as_long_a_closing_one() -> None:
    text = "````md\n```python\nx = 1\n```\nstill inside"
    assert open_fence(text) == "````md"
    assert close_cut(text, None).endswith("still inside\n````\n\n" + NOTE)


def test_a_continuation_reopens_the_block_it_started_in() -> None:
    assert reopen("```js\nlet a =", " 1;\n```") == "```js\n 1;\n```"
    assert reopen("plain text", " more") == " more"


# --- the runner ------------------------------------------------------------------------


def test_a_length_finish_gets_the_note_and_continue_follows_on_exactly() -> None:
    limit = load_registry(REGISTRY, env={}).get("tgi").max_new_tokens_for("essay")
    assert limit is not None
    essay = " ".join(f"w{i}" for i in range(1, int(limit * 2.5)))  # three goes
    model = WordModel(essay)
    runner, jobs, _context, responder, cuts = setup(model)
    runner.run(job(jobs, "essay", {"title": "T"}).id, attempt=0)
    first = responder.transcript()[-1]
    assert first.endswith("\n\n" + NOTE)
    shown = first.removesuffix("\n\n" + NOTE)
    assert essay.startswith(shown) and shown != essay
    runner.run(job(jobs, "continue", {}).id, attempt=0)
    second = responder.transcript()[-1]
    assert second.endswith(NOTE)
    second_text = second.removesuffix("\n\n" + NOTE)
    assert model.requests[-1].prefix == shown  # type: ignore[attr-defined]
    runner.run(job(jobs, "continue", {}).id, attempt=0)
    third = responder.transcript()[-1]
    assert NOTE not in third
    assert shown + " " + second_text.strip() + " " + third.strip() == essay
    assert cuts.last(scope_key(jobs.jobs[next(iter(jobs.jobs))].message)) is None
    runner.run(job(jobs, "continue", {}).id, attempt=0)
    assert responder.transcript()[-1] == catalogue.text("nothing_to_continue")


def test_the_scope_remembers_which_job_was_cut() -> None:
    runner, jobs, _context, _responder, cuts = setup(WordModel("a " * 300))
    cut_job = job(jobs, "essay", {"title": "T"})
    runner.run(cut_job.id, attempt=0)
    last = cuts.last(cut_job.scope)
    assert last is not None and last.job_id == cut_job.id and last.kind == "essay"


def test_a_cut_chat_turn_ends_up_whole_in_the_history_once() -> None:
    answer = " ".join(f"c{i}" for i in range(1, 260))  # chat: the preset default of 200
    runner, jobs, context, responder, _cuts = setup(WordModel(answer))
    turn = job(jobs, "chat", {"text": "Tell me everything."})
    runner.run(turn.id, attempt=0)
    assert responder.transcript()[-1].endswith(NOTE)
    assert NOTE not in context.history(turn.scope)[-1].content
    runner.run(job(jobs, "continue", {}).id, attempt=0)
    history = context.history(turn.scope)
    assert [t.role for t in history] == ["user", "assistant"]
    assert history[-1].content == answer


def test_a_cut_code_block_is_closed_and_its_rest_reopens_it() -> None:
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(200)) + "\n```"
    runner, jobs, _context, responder, _cuts = setup(WordModel(code))
    runner.run(job(jobs, "code", {"text": "python numbers"}).id, attempt=0)
    first = responder.transcript()[-1]
    body = first.removesuffix("\n\n" + NOTE)
    assert body.endswith("\n```") and open_fence(body) is None
    runner.run(job(jobs, "continue", {}).id, attempt=0)
    assert responder.transcript()[-1].startswith("```python\n")


def test_a_continuation_drops_the_oldest_exchanges_to_leave_room() -> None:
    answer = " ".join(f"a{i}" for i in range(1, 300))
    model = WordModel(answer, max_input_tokens=700)  # chat: 200 new tokens, so 500 for the prompt
    runner, jobs, context, responder, _cuts = setup(model)
    scope = job(jobs, "chat", {"text": "x"}).scope
    context.record_exchange(scope, job_id="old", user="old " * 150, assistant="older " * 150)
    runner.run(job(jobs, "chat", {"text": "Tell me."}).id, attempt=0)
    assert any(m.content.startswith("old ") for m in model.requests[-1].messages)  # type: ignore[attr-defined]
    runner.run(job(jobs, "continue", {}).id, attempt=0)
    sent = model.requests[-1].messages  # type: ignore[attr-defined]
    assert [m.role for m in sent] == ["system", "user"] and sent[-1].content == "Tell me."
    assert answer.endswith(responder.transcript()[-1].strip())


def test_an_answer_too_long_to_go_on_says_so() -> None:
    model = WordModel(" ".join(f"e{i}" for i in range(1, 2000)), max_input_tokens=300)
    runner, jobs, _context, responder, _cuts = setup(model)
    runner.run(job(jobs, "essay", {"title": "T"}).id, attempt=0)  # 240 of 1999 words
    runner.run(job(jobs, "continue", {}).id, attempt=0)
    assert responder.transcript()[-1] == catalogue.text("too_long_to_continue")


# --- per-command max_new_tokens --------------------------------------------------------


def test_per_command_max_new_tokens_reaches_the_request() -> None:
    model = WordModel("short answer")
    runner, jobs, _context, _responder, _cuts = setup(model)
    runner.run(job(jobs, "essay", {"title": "T"}).id, attempt=0)
    runner.run(job(jobs, "translate", {"language": "German", "text": "hi"}).id, attempt=0)
    runner.run(job(jobs, "chat", {"text": "hi"}).id, attempt=0)
    sent = [r.max_new_tokens for r in model.requests]  # type: ignore[attr-defined]
    registry = load_registry(REGISTRY, env={"TERTULIA_TGI_URL": "http://x"})
    tgi = registry.get("tgi")
    assert sent == [tgi.max_new_tokens_for("essay"), tgi.max_new_tokens_for("translate"), tgi.max_new_tokens]
    assert sent[0] > sent[1]


def test_continue_is_a_model_command_in_its_conversation_line() -> None:
    spec = find_spec("continue")
    assert spec is not None and spec.recipe is not None and not spec.args
    assert uses_memory("continue")
    assert "continue" not in model_commands() and {"essay", "translate", "code", "chat"} <= model_commands()


def _registry(tmp_path: Path, table: str, *, total: str = "") -> None:
    (tmp_path / "m.toml").write_text(
        'default = "m"\n[models.m]\nflavour = "tgi"\nurl = "http://x"\n'
        + (f'max_total_tokens = "{total}"\n' if total else "")
        + f"[models.m.max_new_tokens_per_command]\n{table}\n"
    )
    load_registry(tmp_path / "m.toml", env={"N": "900"})


def test_the_per_command_table_is_validated_at_load(tmp_path: Path) -> None:
    _registry(tmp_path, 'essay = 1024\ntranslate = "${N:-300}"')
    registry = load_registry(tmp_path / "m.toml", env={"N": "900"})
    assert registry.get("m").max_new_tokens_per_command == {"essay": 1024, "translate": 900}
    assert registry.get("m").max_new_tokens_for("code") is None
    with pytest.raises(ValueError, match="'essai' is not a command"):
        _registry(tmp_path, "essai = 100")
    with pytest.raises(ValueError, match="'continue' is not a command"):
        _registry(tmp_path, "continue = 100")
    with pytest.raises(ValueError, match="not a positive whole number"):
        _registry(tmp_path, "essay = 0")
    with pytest.raises(ValueError, match="not a positive whole number"):
        _registry(tmp_path, 'essay = "lots"')
    with pytest.raises(ValueError, match="leaves no room for a prompt"):
        _registry(tmp_path, "essay = 2048", total="2048")


def test_every_shipped_preset_loads_with_its_table() -> None:
    registry = load_registry(Path(__file__).resolve().parents[2] / "config" / "models.toml", env={})
    for name in registry.names():
        spec = registry.get(name)
        assert spec.max_new_tokens_per_command, name
        essay, translate = spec.max_new_tokens_for("essay"), spec.max_new_tokens_for("translate")
        assert essay is not None and translate is not None and essay > translate, name


def test_an_unknown_continuation_fails_when_the_client_is_built() -> None:
    from core.models import Flavour, ModelSpec
    from core.settings import Settings
    from worker.llm.openai_compat import OpenAICompatClient

    spec = ModelSpec(name="o", flavour=Flavour.OPENAI, url="http://x/v1", extra={"continuation": "prefill"})
    with pytest.raises(ValueError, match="continuation must be one of"):
        OpenAICompatClient(spec, settings=Settings())
    shipped = load_registry(Path(__file__).resolve().parents[2] / "config" / "models.toml", env={})
    assert shipped.get("smollm2-local").extra["continuation"] == "completion"
    assert shipped.get("gpt-4").extra["continuation"] == "instruction"
