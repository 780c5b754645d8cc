"""/ask, read as transcripts: a question about a file, a thread or the conversation."""

from __future__ import annotations

from core.jobs import Job
from core.messages import Attachment, InboundMessage
from core.router import Router
from tests.support.memory import (
    MemoryChoices,
    MemoryContext,
    MemoryJobs,
    RecordingResponder,
    ScriptedModel,
    memory_runner,
)


class Desk:
    def __init__(self, model: ScriptedModel, *, source: str = "") -> None:
        self.model = model
        self.jobs, self.context, self.responder = MemoryJobs(), MemoryContext(), RecordingResponder()
        self.router = Router(jobs=self.jobs, queue=self.jobs, context=self.context, choices=MemoryChoices(),
                             model_names=lambda: ["tgi"], max_input_chars=4000, max_attachment_bytes=100_000)
        self.runner = memory_runner(model, jobs=self.jobs, context=self.context, responder=self.responder,
                                    source=source, max_chars=100_000)

    def ask(self, text: str, **message: object) -> str | Job:
        fields: dict[str, object] = {"platform": "test", "workspace": "w", "channel": "c", "user": "u",
                                     "text": text, "addressed": True}
        fields.update(message)
        outcome = self.router.handle(InboundMessage(**fields))  # type: ignore[arg-type]
        if outcome.job is None:
            return outcome.reply or ""
        self.runner.run(outcome.job.id, attempt=0)
        return outcome.job

    def prompts(self) -> list[str]:
        return ["\n".join(m.content for m in r.messages) for r in self.model.requests]  # type: ignore[attr-defined]


def test_ask_without_a_question_gets_the_usage() -> None:
    reply = Desk(ScriptedModel()).ask("/ask")
    assert isinstance(reply, str) and reply.startswith("Usage: /ask <question>")


def test_ask_answers_from_an_attached_file_and_cites_it() -> None:
    desk = Desk(ScriptedModel(["The door is green [door.txt]."]))
    file = Attachment(name="door.txt", size=40, content=b"The front door was painted green in May.")
    job = desk.ask("/ask What colour is the door?", attachments=(file,))
    assert isinstance(job, Job) and job.kind == "ask" and job.args == {"question": "What colour is the door?"}
    assert desk.responder.transcript() == ["The door is green [door.txt]."]
    (prompt,) = desk.prompts()
    assert "Question: What colour is the door?" in prompt and "painted green in May" in prompt
    assert "Cite where you found the answer" in prompt


def test_ask_in_a_thread_reads_the_thread() -> None:
    desk = Desk(ScriptedModel(["Friday, if the migration is done."]), source="Ana: Launch Friday?\nBen: If migrated.")
    job = desk.ask("/ask When do we launch?", context="thread")
    assert isinstance(job, Job) and job.args == {"question": "When do we launch?", "source": "thread"}
    assert "Ben: If migrated." in desk.prompts()[0]


def test_ask_does_not_read_the_whole_channel() -> None:
    job = Desk(ScriptedModel(["ok"])).ask("/ask anything new?", context="channel")
    assert isinstance(job, Job) and "source" not in job.args


def test_ask_with_nothing_attached_answers_from_the_conversation() -> None:
    desk = Desk(ScriptedModel(["Nice to meet you, Zoltan.", "Your name is Zoltan."]))
    desk.ask("/chat my name is Zoltan")
    desk.ask("/ask what is my name?")
    assert desk.responder.transcript()[-1] == "Your name is Zoltan."
    last = desk.prompts()[-1]
    assert "my name is Zoltan" in last and "Nice to meet you, Zoltan." in last  # the memory was in the prompt
    assert [t.content for t in desk.context.history("test:w:c:-")][-2:] == ["what is my name?", "Your name is Zoltan."]


class Reader(ScriptedModel):
    """Notes for each part, then an answer from the notes."""

    def stream(self, request):  # type: ignore[no-untyped-def]
        prompt = request.messages[-1].content
        self.replies = ["The budget is 4 million (part 3)."] if "Notes:" in prompt else ["(part 3) 4 million"]
        return super().stream(request)


def test_a_long_document_is_read_in_parts_and_the_answer_cites_them() -> None:
    desk = Desk(Reader(max_input_tokens=300))
    text = "\n\n".join(f"Paragraph {i} says the budget line {i} is unrelated." for i in range(300)).encode()
    report = Attachment(name="report.txt", size=len(text), content=text)
    job = desk.ask("/ask What is the budget?", attachments=(report,))
    assert isinstance(job, Job)
    prompts = desk.prompts()
    parts = [p for p in prompts if "This is part" in p]
    assert len(parts) > 1 and "(part 1)" in parts[0] and "Question: What is the budget?" in parts[0]
    combined = [p for p in prompts if "Notes:" in p]
    assert any("(part 3) 4 million" in p for p in combined)  # the notes reach the answer
    assert "citing the parts you used" in prompts[-1]
    assert desk.responder.transcript() == ["The budget is 4 million (part 3)."]
